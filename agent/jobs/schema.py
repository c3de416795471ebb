"""The job store's database: its tables, how they are created, and how a connection is opened.

Tables (created by ``JobStore.create_tables``)::

    inbound  every raw event, stored before it is acknowledged; unique (channel, key) makes a replay a no-op
    jobs     one row per course letter; unique key = source:course id; status = the last completed step
    audit    who read or wrote which patient data, when
    channel_state  a channel's own bookkeeping (FHIR poll mark, subscription event counters), shared by replicas

Creation is ``create_all``: it adds missing tables and never alters existing ones (there are no migrations yet).
Other packages keep their tables on the same database (review, worklist accounts): ``create_tables_of``.

Embedded default: SQLite in WAL mode with ``synchronous=FULL`` (a commit survives power loss) and
``BEGIN IMMEDIATE`` transactions, so that two processes on one file serialise their claims instead of deadlocking.
Several replicas: PostgreSQL (claims use ``SELECT ... FOR UPDATE SKIP LOCKED``, see ``claims``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    insert,
    select,
)
from sqlalchemy.engine import Connection, RowMapping, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs.job import OPEN_STATES, Flag, Job, Status, StoredInbound

SQLITE_BUSY_TIMEOUT_MS = 30_000


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
    Column("actor", String(128), nullable=False),  # worker id, "cli:<user>", "user:<name>", "web:<name>"
    Column("action", String(16), nullable=False),  # read | write | acknowledge
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

# The tables whose rows move through ``Status``, by name (``record_failure``, ``counts``, metrics).
TABLES: dict[str, Table] = {"inbound": inbound_table, "jobs": jobs_table}
# States with a step left, per table (an inbound row is done once its cases are jobs).
OPEN_BY_TABLE: dict[str, frozenset[Status]] = {
    "inbound": frozenset({Status.received}),
    "jobs": frozenset(OPEN_STATES - {Status.received}),
}


def flags_of(text: str) -> frozenset[Flag]:
    return frozenset(Flag(f) for f in text.split(",") if f)


def job_of(row: RowMapping) -> Job:
    """A ``jobs`` row as the record the rest of the agent reads."""
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
        flags=flags_of(row["flags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        posted_at=row["posted_at"],
    )


def inbound_of(row: RowMapping) -> StoredInbound:
    """An ``inbound`` row as the record the worker reads."""
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


class Database:
    """The engine, its transactions, the tables' creation and the audit row: what every part of ``JobStore``
    (``inbound``, ``claims``, ``store``) writes through.

    Args:
        url: SQLAlchemy URL (``sqlite:///var/rtletter.db``, ``postgresql+psycopg://user@host/db``).
        clock: returns aware UTC now; tests pin it.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.url = make_url(url)
        self.clock = clock
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise JobStoreError(f"cannot open the job store (sqlite): {exc.strerror}") from exc
            self.engine = create_engine(self.url)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)

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

    @contextmanager
    def _joined(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction where one is given (a review decision with its job change), else a new one."""
        if conn is not None:
            yield conn
        else:
            with self._tx() as own:
                yield own

    def create_tables(self) -> None:
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise JobStoreError(f"cannot open the job store ({self.dialect}): {type(exc.orig).__name__}") from exc

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

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One round trip to the database (readiness); JobStoreError when it does not answer."""
        with self._tx() as conn:
            conn.execute(select(1))

    def audit(
        self, actor: str, action: str, entity: str, entity_id: object, what: str, *, conn: Connection | None = None
    ) -> None:
        """Record a read or write of patient data; ``conn``: in that transaction, so the record and the change it
        describes commit together."""
        with self._joined(conn) as tx:
            tx.execute(
                insert(audit_table).values(
                    at=self.clock(), actor=actor, action=action, entity=entity, entity_id=str(entity_id), what=what
                )
            )
