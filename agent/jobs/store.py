"""All SQL of the agent behind one class, ``JobStore`` (SQLAlchemy 2 Core).

Tables (created by ``JobStore.create_tables``)::

    inbound  every raw event, stored before it is acknowledged; unique (channel, key) makes a replay a no-op
    jobs     one row per course letter; unique key = source:course id; status = the last completed step
    audit    who read or wrote which patient data, when
    channel_state  a channel's own bookkeeping (FHIR poll mark, subscription event counters), shared by replicas

Embedded default: SQLite in WAL mode with ``synchronous=FULL`` (a commit survives power loss) and
``BEGIN IMMEDIATE`` transactions, so that two processes on one file serialise their claims instead of deadlocking.
Several replicas: PostgreSQL, where a claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` (workers never wait on each
other's rows). A claim is a lease: ``claimed_by`` + ``lease_until``; a worker that dies loses its claim when the lease
runs out, and every completion is conditional on still holding it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, RowMapping, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs.job import FINAL_STATES, OPEN_STATES, Flag, Job, Status, StoredInbound
from rtletter.mappers.case import Case

if TYPE_CHECKING:
    from rtletter.agent.channels.base import Inbound

SQLITE_BUSY_TIMEOUT_MS = 30_000
INTAKE_TRIES = 3  # two workers may insert the same course at once; the loser re-reads and merges


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: store naive UTC, hand back aware)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the job store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

inbound_table = Table(
    "inbound",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("key", String(512), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("meta", Text, nullable=False, default="{}"),
    Column("received_at", UTCDateTime, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("status", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("quarantine_reason", Text),
    Column("claimed_by", String(128)),
    Column("lease_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "key", name="uq_inbound_channel_key"),
    Index("ix_inbound_due", "status", "next_attempt_at"),
)

jobs_table = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),  # source:course id
    Column("channel", String(32), nullable=False),
    Column("inbound_id", Integer, ForeignKey("inbound.id")),
    Column("status", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),  # no PHI: exception type and a mapper/channel message
    Column("case_json", Text),
    Column("case_hash", String(64)),
    Column("course_version", String(256)),
    Column("course_version_seen", String(256)),
    Column("draft_text", Text),
    Column("draft_meta", Text, nullable=False, default="{}"),
    Column("posted_document", String(1024)),
    Column("posted_task", String(1024)),
    Column("flags", String(512), nullable=False, default=""),
    Column("claimed_by", String(128)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime),
    Index("ix_jobs_due", "status", "next_attempt_at"),
)

audit_table = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),  # worker id or "cli:<user>"
    Column("action", String(16), nullable=False),  # read | write
    Column("entity", String(32), nullable=False),  # inbound | job | draft | channel
    Column("entity_id", String(512), nullable=False),
    Column("what", String(256), nullable=False),  # "raw payload stored", "case read for generation", ...
)

channel_state_table = Table(
    "channel_state",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("key", String(256), primary_key=True),  # "poll_mark", "subscription/<id>/events"
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class IntakeOutcome:
    """What storing one mapped case did to the jobs table."""

    key: str
    job_id: int
    result: str  # "created" | "duplicate" | "updated" (no draft yet) | "flagged" (course changed after a draft)


@dataclass(frozen=True)
class InboundRecord:
    """One raw event to store (``store_inbound_many``); fields as ``store_inbound``'s arguments."""

    channel: str
    key: str
    payload: bytes
    content_type: str
    received_at: datetime
    meta: dict[str, str] = field(default_factory=dict)
    quarantine_reason: str | None = None


def case_hash(case: Case) -> str:
    """A content hash of the case, to tell a replay (same hash) from an updated course."""
    return hashlib.sha256(case.model_dump_json().encode("utf-8")).hexdigest()


def _course_version(case: Case) -> str | None:
    return case.course.source or None


def _flags(text: str) -> frozenset[Flag]:
    return frozenset(Flag(f) for f in text.split(",") if f)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide, not pysqlite
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit: ACK only after this
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock between readers


class JobStore:
    """The durable queue: inbound events, jobs, audit. Thread-safe; one per process.

    Args:
        url: SQLAlchemy URL (``sqlite:///var/rtletter.db``, ``postgresql+psycopg://user@host/db``).
        clock: returns aware UTC now; tests pin it.
        lease_s: how long a claim holds before another worker may take the row over.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow, lease_s: float = 900.0) -> None:
        self.url = make_url(url)
        self.clock = clock
        self.lease = timedelta(seconds=lease_s)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                from pathlib import Path

                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise JobStoreError(f"cannot open the job store (sqlite): {exc.strerror}") from exc
            self.engine = create_engine(self.url)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)

    # --- plumbing ---------------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, what: str) -> Iterator[Connection]:
        """One transaction on the store's database, for the job tables and the tables other packages keep beside them
        (review, worklist accounts). Errors become JobStoreError naming ``what`` and the driver error's class only:
        the driver's message may quote parameters (patient data). IntegrityError passes through for callers that
        use a unique key as a lock."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise JobStoreError(f"{what} failed: {type(getattr(exc, 'orig', None) or exc).__name__}") from exc

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.transaction(f"job store {self.dialect}")

    def create_tables_of(self, tables: MetaData, what: str) -> None:
        """Create another package's tables on this database. Two replicas starting at once: the loser's CREATE fails
        and its one retry finds the tables there."""
        for attempt in range(2):
            try:
                tables.create_all(self.engine)
                return
            except SQLAlchemyError as exc:
                if attempt == 1:
                    raise JobStoreError(f"cannot create the {what}: {type(exc).__name__}") from exc

    def create_tables(self) -> None:
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise JobStoreError(f"cannot open the job store ({self.dialect}): {type(exc.orig).__name__}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One round trip to the database (readiness); JobStoreError when it does not answer."""
        with self._tx() as conn:
            conn.execute(select(1))

    def _audit(self, conn: Connection, actor: str, action: str, entity: str, entity_id: object, what: str) -> None:
        conn.execute(
            insert(audit_table).values(
                at=self.clock(), actor=actor, action=action, entity=entity, entity_id=str(entity_id), what=what
            )
        )

    def audit(self, actor: str, action: str, entity: str, entity_id: object, what: str) -> None:
        """Record a read or write of patient data that happened outside the store (CLI, web)."""
        with self._tx() as conn:
            self._audit(conn, actor, action, entity, entity_id, what)

    # --- inbound ----------------------------------------------------------------------------------------------------

    def store_inbound(
        self,
        *,
        channel: str,
        key: str,
        payload: bytes,
        content_type: str,
        received_at: datetime,
        meta: dict[str, str] | None = None,
        actor: str = "agent",
        quarantine_reason: str | None = None,
    ) -> tuple[int, bool]:
        """Store a raw event durably (committed on return). Returns (id, created); a replay returns created False.

        ``quarantine_reason``: the event is known to be unusable already (an HL7 v2 message answered with AE/AR):
        keep it, but as quarantined, so no worker picks it up.
        """
        record = InboundRecord(channel, key, payload, content_type, received_at, meta or {}, quarantine_reason)
        for _ in range(INTAKE_TRIES):
            with self._tx() as conn:
                found = self._find_inbound(conn, channel, key)
                if found is not None:
                    return found, False
                try:
                    with conn.begin_nested():
                        new_id = self._insert_inbound(conn, record, actor)
                except IntegrityError:
                    continue  # another process stored the same event a moment ago
                return new_id, True
        raise JobStoreError(f"could not store inbound event of channel {channel}")

    def store_event(self, event: Inbound, *, actor: str) -> tuple[int, bool]:
        """``store_inbound`` for a channel's ``Inbound`` (polls, notifications, backfill)."""
        return self.store_inbound(
            channel=event.channel,
            key=event.key,
            payload=event.payload,
            content_type=event.content_type,
            received_at=event.received_at,
            meta=event.meta,
            actor=actor,
        )

    def store_inbound_many(self, records: Sequence[InboundRecord], *, actor: str = "agent") -> list[tuple[int, bool]]:
        """Store several raw events in one transaction: one commit (one fsync) for all of them. A listener that
        acknowledges many connections at once uses it as group commit. Same result per event as ``store_inbound``."""
        if not records:
            return []
        pairs = [(r.channel, r.key) for r in records]
        if len(set(pairs)) == len(pairs) and self.dialect == "sqlite":
            ids_in_order = self._insert_many_sqlite(records, actor)
            if ids_in_order is not None:
                return [(new_id, True) for new_id in ids_in_order]
        elif len(set(pairs)) == len(pairs):
            try:
                with self._tx() as conn:
                    # Optimistic: new events are the rule. A replay hits the unique key, the batch rolls back and is
                    # stored one by one below (the replay then reads as created False).
                    ids: dict[tuple[str, str], int] = {}
                    self._insert_inbound_many(conn, list(records), actor, ids)
                    return [(ids[pair], True) for pair in pairs]
            except IntegrityError:
                pass
        return [
            self.store_inbound(
                channel=r.channel,
                key=r.key,
                payload=r.payload,
                content_type=r.content_type,
                received_at=r.received_at,
                meta=r.meta,
                actor=actor,
                quarantine_reason=r.quarantine_reason,
            )
            for r in records
        ]

    def _insert_many_sqlite(self, records: Sequence[InboundRecord], actor: str) -> list[int] | None:
        """The group-commit path on SQLite: the same rows as ``_insert_inbound_many``, written through the driver
        (SQLAlchemy's per-statement work costs several times the insert itself on the listener's hot path).
        Values go through the columns' own bind processors, so the stored form is identical. None: a unique key
        was hit (a replay), nothing was written."""
        now = self.clock()
        dialect = self.engine.dialect
        when = inbound_table.c.stored_at.type.dialect_impl(dialect).bind_processor(dialect)
        at = audit_table.c.at.type.dialect_impl(dialect).bind_processor(dialect)
        assert when is not None and at is not None
        stamp = when(now)
        rows = [
            (
                r.channel,
                r.key,
                r.content_type,
                r.payload,
                json.dumps(r.meta, sort_keys=True),
                when(r.received_at),
                stamp,
                (Status.received if r.quarantine_reason is None else Status.quarantined).value,
                r.quarantine_reason[:2000] if r.quarantine_reason is not None else None,
                stamp,
                stamp,
            )
            for r in records
        ]
        try:
            with self.engine.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                cursor = driver.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    ids = [int(cursor.execute(_SQLITE_INSERT_INBOUND, row).fetchone()[0]) for row in rows]
                    audits = [
                        (at(now), actor, "write", "inbound", str(new_id), f"raw {r.channel} payload stored"
                         + (" (quarantined)" if r.quarantine_reason is not None else ""))
                        for r, new_id in zip(records, ids, strict=True)
                    ]  # fmt: skip
                    cursor.executemany(_SQLITE_INSERT_AUDIT, audits)
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                finally:
                    cursor.close()
        except sqlite3.IntegrityError:
            return None
        except sqlite3.Error as exc:
            raise JobStoreError(f"job store sqlite failed: {type(exc).__name__}") from exc
        return ids

    def _insert_inbound_many(
        self, conn: Connection, records: list[InboundRecord], actor: str, ids: dict[tuple[str, str], int]
    ) -> None:
        """Insert many rows and their audit records with two statements (executemany), filling ``ids``."""
        now = self.clock()
        rows = conn.execute(
            insert(inbound_table).returning(inbound_table.c.id, sort_by_parameter_order=True),
            [
                {
                    "channel": r.channel,
                    "key": r.key,
                    "content_type": r.content_type,
                    "payload": r.payload,
                    "meta": json.dumps(r.meta, sort_keys=True),
                    "received_at": r.received_at,
                    "stored_at": now,
                    "status": (Status.received if r.quarantine_reason is None else Status.quarantined).value,
                    "quarantine_reason": r.quarantine_reason[:2000] if r.quarantine_reason is not None else None,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                }
                for r in records
            ],
        ).all()
        audits = []
        for record, (new_id,) in zip(records, rows, strict=True):
            ids[(record.channel, record.key)] = int(new_id)
            what = f"raw {record.channel} payload stored" + (" (quarantined)" if record.quarantine_reason else "")
            audits.append(
                {
                    "at": now,
                    "actor": actor,
                    "action": "write",
                    "entity": "inbound",
                    "entity_id": str(new_id),
                    "what": what,
                }
            )
        conn.execute(insert(audit_table), audits)

    def _find_inbound(self, conn: Connection, channel: str, key: str) -> int | None:
        table = inbound_table
        found = conn.execute(select(table.c.id).where(table.c.channel == channel, table.c.key == key)).scalar()
        return int(found) if found is not None else None

    def _insert_inbound(self, conn: Connection, record: InboundRecord, actor: str) -> int:
        now = self.clock()
        quarantined = record.quarantine_reason is not None
        new_id = conn.execute(
            insert(inbound_table)
            .values(
                channel=record.channel,
                key=record.key,
                content_type=record.content_type,
                payload=record.payload,
                meta=json.dumps(record.meta, sort_keys=True),
                received_at=record.received_at,
                stored_at=now,
                status=(Status.quarantined if quarantined else Status.received).value,
                quarantine_reason=record.quarantine_reason[:2000] if quarantined else None,
                attempts=0,
                next_attempt_at=now,
                updated_at=now,
            )
            .returning(inbound_table.c.id)
        ).scalar_one()
        what = f"raw {record.channel} payload stored" + (" (quarantined)" if quarantined else "")
        self._audit(conn, actor, "write", "inbound", new_id, what)
        return int(new_id)

    def has_inbound(self, channel: str, key: str) -> bool:
        """Whether this event is stored already (any state)."""
        table = inbound_table
        with self._tx() as conn:
            found = conn.execute(select(table.c.id).where(table.c.channel == channel, table.c.key == key)).first()
        return found is not None

    def _row_to_inbound(self, row: RowMapping) -> StoredInbound:
        return StoredInbound(
            id=row["id"],
            channel=row["channel"],
            key=row["key"],
            content_type=row["content_type"],
            payload=row["payload"],
            meta=json.loads(row["meta"] or "{}"),
            received_at=row["received_at"],
            status=Status(row["status"]),
            attempts=row["attempts"],
            last_error=row["last_error"],
            quarantine_reason=row["quarantine_reason"],
        )

    def get_inbound(self, inbound_id: int) -> StoredInbound | None:
        with self._tx() as conn:
            row = conn.execute(select(inbound_table).where(inbound_table.c.id == inbound_id)).mappings().first()
        return self._row_to_inbound(row) if row else None

    def list_inbound(self, status: Status | None = None, limit: int = 100) -> list[StoredInbound]:
        query = select(inbound_table).order_by(inbound_table.c.id).limit(limit)
        if status is not None:
            query = query.where(inbound_table.c.status == status.value)
        with self._tx() as conn:
            return [self._row_to_inbound(r) for r in conn.execute(query).mappings()]

    # --- claims -----------------------------------------------------------------------------------------------------

    def _claim(self, table: Table, states: Sequence[Status], worker: str, what: str) -> RowMapping | None:
        """Lease the oldest due row and read it, audited, in one transaction (one commit per claim)."""
        now = self.clock()
        query = (
            select(table.c.id)
            .where(
                table.c.status.in_([s.value for s in states]),
                table.c.next_attempt_at <= now,
                or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            )
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serialises with BEGIN IMMEDIATE instead
        )
        with self._tx() as conn:
            row_id = conn.execute(query).scalar()
            if row_id is None:
                return None
            row = (
                conn.execute(
                    update(table)
                    .where(table.c.id == row_id)
                    .values(claimed_by=worker, lease_until=now + self.lease)
                    .returning(*table.c)
                )
                .mappings()
                .one()
            )
            entity = "inbound" if table is inbound_table else "job"
            self._audit(conn, worker, "read", entity, row["id"] if table is inbound_table else row["key"], what)
        return row

    def claim_inbound(self, worker: str) -> StoredInbound | None:
        """Claim the oldest due inbound event that still needs mapping."""
        row = self._claim(inbound_table, [Status.received], worker, "raw payload read for mapping")
        return self._row_to_inbound(row) if row is not None else None

    def claim_job(self, worker: str, *, to_generate: bool = False) -> Job | None:
        """Claim the oldest due job with a step left (generate or post); ``to_generate``: only one to draft."""
        states = [Status.context_fetched] if to_generate else sorted(OPEN_BY_TABLE["jobs"])
        row = self._claim(jobs_table, states, worker, "case read for its next step")
        return self._row_to_job(row) if row is not None else None

    # --- step completions (each conditional on still holding the claim) --------------------------------------------

    def record_cases(self, inbound_id: int, worker: str, cases: Sequence[Case], channel: str) -> list[IntakeOutcome]:
        """Turn a mapped inbound event into jobs, in one transaction with marking the event done.

        A course seen for the first time becomes a job. The same case again is a duplicate and changes nothing. A
        changed case replaces the stored one while no draft exists; once a draft exists it is only flagged
        (``course_updated_after_draft``) and its newest version recorded, never silently redrafted.
        """
        for attempt in range(INTAKE_TRIES):
            try:
                return self._record_cases(inbound_id, worker, cases, channel)
            except IntegrityError:
                if attempt == INTAKE_TRIES - 1:
                    raise JobStoreError("could not record cases: concurrent inserts kept colliding") from None
        raise AssertionError("unreachable")

    def _record_cases(self, inbound_id: int, worker: str, cases: Sequence[Case], channel: str) -> list[IntakeOutcome]:
        now = self.clock()
        outcomes = []
        with self._tx() as conn:
            for case in cases:
                digest = case_hash(case)
                version = _course_version(case)
                row = (
                    conn.execute(select(jobs_table).where(jobs_table.c.key == case.case_id).with_for_update())
                    .mappings()
                    .first()
                )
                if row is None:
                    job_id = conn.execute(
                        insert(jobs_table)
                        .values(
                            key=case.case_id,
                            channel=channel,
                            inbound_id=inbound_id,
                            status=Status.context_fetched.value,
                            attempts=0,
                            next_attempt_at=now,
                            case_json=case.model_dump_json(),
                            case_hash=digest,
                            course_version=version,
                            course_version_seen=version,
                            draft_meta="{}",
                            flags="",
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(jobs_table.c.id)
                    ).scalar_one()
                    outcomes.append(IntakeOutcome(case.case_id, int(job_id), "created"))
                    self._audit(conn, worker, "write", "job", case.case_id, "case stored")
                    continue
                job_id = int(row["id"])
                if row["case_hash"] == digest:
                    outcomes.append(IntakeOutcome(case.case_id, job_id, "duplicate"))
                    continue
                if row["status"] in (Status.received.value, Status.context_fetched.value):
                    conn.execute(
                        update(jobs_table)
                        .where(jobs_table.c.id == job_id)
                        .values(
                            case_json=case.model_dump_json(),
                            case_hash=digest,
                            course_version=version,
                            course_version_seen=version,
                            inbound_id=inbound_id,
                            updated_at=now,
                        )
                    )
                    outcomes.append(IntakeOutcome(case.case_id, job_id, "updated"))
                    self._audit(conn, worker, "write", "job", case.case_id, "case replaced before drafting")
                    continue
                flags = _flags(row["flags"]) | {Flag.course_updated_after_draft}
                conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id)
                    .values(
                        flags=",".join(sorted(flags)),
                        course_version_seen=version or digest[:16],
                        updated_at=now,
                    )
                )
                outcomes.append(IntakeOutcome(case.case_id, job_id, "flagged"))
                self._audit(conn, worker, "write", "job", case.case_id, "flagged: course updated after draft")
            done = conn.execute(
                update(inbound_table)
                .where(inbound_table.c.id == inbound_id, inbound_table.c.claimed_by == worker)
                .values(
                    status=Status.context_fetched.value,
                    claimed_by=None,
                    lease_until=None,
                    last_error=None,
                    updated_at=now,
                )
            )
            if done.rowcount != 1:
                raise LostClaim()
            # the reads of the step (the EHR context of these cases), recorded with their result
            self._audit(conn, worker, "read", "inbound", inbound_id, f"context fetched from {channel}")
        return outcomes

    def record_draft(self, job_id: int, worker: str, text: str, meta: dict[str, str]) -> bool:
        """context_fetched -> generated. False when the claim was lost (another worker took over)."""
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.claimed_by == worker,
                    jobs_table.c.status == Status.context_fetched.value,
                )
                .values(
                    status=Status.generated.value,
                    draft_text=text,
                    draft_meta=json.dumps(meta, sort_keys=True),
                    attempts=0,
                    last_error=None,
                    claimed_by=None,
                    lease_until=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
            if done.rowcount == 1:
                self._audit(conn, worker, "write", "job", job_id, "draft stored")
        return done.rowcount == 1

    def record_posted(self, job_id: int, worker: str, document: str, task: str | None) -> bool:
        """generated -> posted. False when the claim was lost."""
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.claimed_by == worker,
                    jobs_table.c.status == Status.generated.value,
                )
                .values(
                    status=Status.posted.value,
                    posted_document=document,
                    posted_task=task,
                    attempts=0,
                    last_error=None,
                    claimed_by=None,
                    lease_until=None,
                    posted_at=now,
                    updated_at=now,
                )
            )
            if done.rowcount == 1:
                self._audit(conn, worker, "write", "draft", job_id, f"draft posted as {document}")
        return done.rowcount == 1

    def record_failure(
        self, table_name: str, row_id: int, worker: str, *, error: str, retry_at: datetime | None
    ) -> Status | None:
        """A step failed: schedule the retry at ``retry_at``, or dead-letter when it is None. Returns the new status."""
        table = _TABLES[table_name]
        now = self.clock()
        values: dict[str, Any] = {
            "attempts": table.c.attempts + 1,
            "last_error": error[:2000],
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
        }
        if retry_at is None:
            values["status"] = Status.dead.value
        else:
            values["next_attempt_at"] = retry_at
        with self._tx() as conn:
            done = conn.execute(
                update(table).where(table.c.id == row_id, table.c.claimed_by == worker).values(**values)
            )
            if done.rowcount != 1:
                return None
            status = conn.execute(select(table.c.status).where(table.c.id == row_id)).scalar_one()
        return Status(status)

    def record_ignored(self, inbound_id: int, worker: str, reason: str) -> bool:
        """A mapped inbound event that makes no job (mappers.checks.why_not_drafted): kept, visible with its reason
        (``quarantine_reason`` holds why a row made no job), never claimed again."""
        return self._close_inbound(inbound_id, worker, Status.ignored, reason)

    def record_quarantine(self, inbound_id: int, worker: str, reason: str) -> bool:
        """An inbound event that cannot be mapped: keep it, mark it, never retry it unchanged."""
        return self._close_inbound(inbound_id, worker, Status.quarantined, reason)

    def _close_inbound(self, inbound_id: int, worker: str, status: Status, reason: str) -> bool:
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(inbound_table)
                .where(inbound_table.c.id == inbound_id, inbound_table.c.claimed_by == worker)
                .values(
                    status=status.value,
                    quarantine_reason=reason[:2000],
                    claimed_by=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            if done.rowcount == 1:
                self._audit(conn, worker, "write", "inbound", inbound_id, str(status))
        return done.rowcount == 1

    # --- reading and operator actions -------------------------------------------------------------------------------

    def _row_to_job(self, row: RowMapping) -> Job:
        return Job(
            id=row["id"],
            key=row["key"],
            channel=row["channel"],
            inbound_id=row["inbound_id"],
            status=Status(row["status"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            case_json=row["case_json"],
            case_hash=row["case_hash"],
            course_version=row["course_version"],
            course_version_seen=row["course_version_seen"],
            draft_text=row["draft_text"],
            draft_meta=json.loads(row["draft_meta"] or "{}"),
            posted_document=row["posted_document"],
            posted_task=row["posted_task"],
            flags=_flags(row["flags"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def get_job(self, ref: int | str) -> Job | None:
        """A job by id or by key."""
        column = jobs_table.c.id if isinstance(ref, int) else jobs_table.c.key
        with self._tx() as conn:
            row = conn.execute(select(jobs_table).where(column == ref)).mappings().first()
        return self._row_to_job(row) if row else None

    def list_jobs(self, status: Status | None = None, limit: int = 100) -> list[Job]:
        query = select(jobs_table).order_by(jobs_table.c.id).limit(limit)
        if status is not None:
            query = query.where(jobs_table.c.status == status.value)
        with self._tx() as conn:
            return [self._row_to_job(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per status, per table: ``{"jobs": {"posted": 3}, "inbound": {...}}``."""
        result: dict[str, dict[str, int]] = {}
        with self._tx() as conn:
            for name, table in _TABLES.items():
                rows = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
                result[name] = {status: int(n) for status, n in rows}
        return result

    def pending(self) -> tuple[int, datetime | None]:
        """How many rows still have a step to run, and when the earliest of them is due."""
        total = 0
        earliest: datetime | None = None
        with self._tx() as conn:
            for name, table in _TABLES.items():
                open_values = [s.value for s in OPEN_BY_TABLE[name]]
                n, first = conn.execute(
                    select(func.count(), func.min(table.c.next_attempt_at)).where(table.c.status.in_(open_values))
                ).one()
                total += int(n)
                if first is not None:
                    earliest = first if earliest is None or first < earliest else earliest
        return total, earliest

    def retry_job(self, ref: int | str, actor: str) -> Job:
        """Run a dead or waiting job's next step now, with its attempts reset. Raises JobStoreError otherwise."""
        job = self.get_job(ref)
        if job is None:
            raise JobStoreError(f"no job {ref}")
        if job.status in FINAL_STATES - {Status.dead}:
            raise JobStoreError(f"job {job.id} is {job.status}: nothing to retry")
        if job.status == Status.dead:
            status = Status.generated if job.draft_text else Status.context_fetched
        else:
            status = job.status
        now = self.clock()
        with self._tx() as conn:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job.id)
                .values(status=status.value, attempts=0, next_attempt_at=now, lease_until=None, updated_at=now)
            )
            self._audit(conn, actor, "write", "job", job.key, f"retry requested ({job.status} -> {status})")
        return self.get_job(job.id)  # type: ignore[return-value]

    def cancel_job(self, ref: int | str, actor: str) -> Job:
        """Stop a job that has not been posted. Raises JobStoreError for a posted or finished one."""
        job = self.get_job(ref)
        if job is None:
            raise JobStoreError(f"no job {ref}")
        if job.status not in OPEN_STATES and job.status != Status.dead:
            raise JobStoreError(f"job {job.id} is {job.status}: it can no longer be cancelled here")
        now = self.clock()
        with self._tx() as conn:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job.id, jobs_table.c.status == job.status.value)
                .values(status=Status.cancelled.value, lease_until=None, claimed_by=None, updated_at=now)
            )
            self._audit(conn, actor, "write", "job", job.key, "cancelled")
        return self.get_job(job.id)  # type: ignore[return-value]

    def state(self, channel: str) -> ChannelState:
        """A durable key-value store for one channel's own bookkeeping (poll marks, subscription counters)."""
        return ChannelState(self, channel)

    def get_state(self, channel: str, key: str) -> str | None:
        table = channel_state_table
        with self._tx() as conn:
            return conn.execute(select(table.c.value).where(table.c.channel == channel, table.c.key == key)).scalar()

    def set_state(self, channel: str, key: str, value: str) -> None:
        table = channel_state_table
        for _ in range(INTAKE_TRIES):
            try:
                with self._tx() as conn:
                    done = conn.execute(
                        update(table)
                        .where(table.c.channel == channel, table.c.key == key)
                        .values(value=value, updated_at=self.clock())
                    )
                    if done.rowcount == 0:
                        conn.execute(
                            insert(table).values(channel=channel, key=key, value=value, updated_at=self.clock())
                        )
                return
            except IntegrityError:
                continue  # another replica inserted it first: update on the next try
        raise JobStoreError(f"could not save state of channel {channel}")

    def audit_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(select(audit_table).order_by(audit_table.c.id).limit(limit)).mappings()
            return [dict(r) for r in rows]


class LostClaim(JobStoreError):
    """The row was taken over by another worker (our lease ran out): our result is dropped, theirs counts."""

    def __init__(self) -> None:
        super().__init__("claim lost to another worker")


class ChannelState:
    """``get``/``set`` for one channel, backed by the ``channel_state`` table (the FHIR channel's StateStore)."""

    def __init__(self, store: JobStore, channel: str) -> None:
        self.store = store
        self.channel = channel

    def get(self, key: str) -> str | None:
        return self.store.get_state(self.channel, key)

    def set(self, key: str, value: str) -> None:
        self.store.set_state(self.channel, key, value)


_TABLES: dict[str, Table] = {"inbound": inbound_table, "jobs": jobs_table}
# States with a step left, per table (an inbound row is done once its cases are jobs).
OPEN_BY_TABLE: dict[str, frozenset[Status]] = {
    "inbound": frozenset({Status.received}),
    "jobs": frozenset(OPEN_STATES - {Status.received}),
}

# The group-commit inserts on SQLite (see ``JobStore._insert_many_sqlite``); columns as in the table definitions.
_SQLITE_INSERT_INBOUND = (
    'INSERT INTO inbound (channel, "key", content_type, payload, meta, received_at, stored_at, status, '
    "quarantine_reason, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id"
)
_SQLITE_INSERT_AUDIT = "INSERT INTO audit (at, actor, action, entity, entity_id, what) VALUES (?, ?, ?, ?, ?, ?)"
