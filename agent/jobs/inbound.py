"""Raw inbound events, stored durably before the channel acknowledges them (``JobStore``'s inbound part).

    store_inbound       one event, committed on return; a replay (same channel and key) returns created False
    store_event         the same for a channel's ``Inbound`` (polls, notifications, backfill)
    store_inbound_many  several events in one transaction: one commit, one fsync for all of them (the MLLP
                        listener's group commit when it acknowledges many connections at once)

All three write through one insert path, ``_insert_inbound``: the rows and their audit records, in the caller's
transaction. On SQLite it writes through the driver, with the columns' own bind processors so that the stored form
is the one SQLAlchemy would write: SQLAlchemy's per-statement work costs several times the insert itself on the
listener's hot path.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Dialect, Table, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs.job import Status, StoredInbound
from rtletter.agent.jobs.schema import Database, audit_table, inbound_of, inbound_table

if TYPE_CHECKING:
    from rtletter.agent.channels.base import Inbound

INTAKE_TRIES = 3  # two writers may store the same event at once; the loser re-reads and finds it
REASON_MAX = 2000  # characters of a quarantine reason kept


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


_INBOUND_COLUMNS = (
    "channel",
    "key",
    "content_type",
    "payload",
    "meta",
    "received_at",
    "stored_at",
    "status",
    "quarantine_reason",
    "attempts",
    "next_attempt_at",
    "updated_at",
)
_AUDIT_COLUMNS = ("at", "actor", "action", "entity", "entity_id", "what")


def _sqlite_insert(table: Table, columns: Sequence[str], returning: str = "") -> str:
    """The driver's INSERT for these columns; names come from the table definitions, every value is bound."""
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks}){tail}"  # noqa: S608


_SQLITE_INSERT_INBOUND = _sqlite_insert(inbound_table, _INBOUND_COLUMNS, "id")
_SQLITE_INSERT_AUDIT = _sqlite_insert(audit_table, _AUDIT_COLUMNS)


@lru_cache(maxsize=8)
def _binders(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    """Each column's bind processor on this dialect (None where a value goes to the driver as it is)."""
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]


def _bound(row: dict[str, Any], columns: tuple[str, ...], binders: list[Callable[[Any], Any] | None]) -> list[Any]:
    return [row[c] if bind is None else bind(row[c]) for c, bind in zip(columns, binders, strict=True)]


def _inbound_row(record: InboundRecord, now: datetime) -> dict[str, Any]:
    quarantined = record.quarantine_reason is not None
    return {
        "channel": record.channel,
        "key": record.key,
        "content_type": record.content_type,
        "payload": record.payload,
        "meta": json.dumps(record.meta, sort_keys=True),
        "received_at": record.received_at,
        "stored_at": now,
        # known to be unusable already (an HL7 v2 message answered AE/AR): kept, but no worker picks it up
        "status": (Status.quarantined if quarantined else Status.received).value,
        "quarantine_reason": record.quarantine_reason[:REASON_MAX] if record.quarantine_reason is not None else None,
        "attempts": 0,
        "next_attempt_at": now,
        "updated_at": now,
    }


def _audit_row(record: InboundRecord, new_id: int, actor: str, now: datetime) -> dict[str, Any]:
    what = f"raw {record.channel} payload stored" + (" (quarantined)" if record.quarantine_reason is not None else "")
    return {"at": now, "actor": actor, "action": "write", "entity": "inbound", "entity_id": str(new_id), "what": what}


class InboundStorage(Database):
    """The ``inbound`` table: storing raw events and reading them back."""

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
                        (new_id,) = self._insert_inbound(conn, [record], actor)
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
        if len(set(pairs)) == len(pairs):
            try:
                with self._tx() as conn:
                    # Optimistic: new events are the rule. A replay hits the unique key, the batch rolls back and is
                    # stored one by one below (the replay then reads as created False).
                    return [(new_id, True) for new_id in self._insert_inbound(conn, records, actor)]
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

    def _insert_inbound(self, conn: Connection, records: Sequence[InboundRecord], actor: str) -> list[int]:
        """The one insert path: the rows and their audit records in ``conn``'s transaction; their ids in order.
        IntegrityError when an event is stored already (the caller's transaction then rolls back)."""
        now = self.clock()
        rows = [_inbound_row(r, now) for r in records]
        if self.dialect != "sqlite":
            returning = insert(inbound_table).returning(inbound_table.c.id, sort_by_parameter_order=True)
            ids = [int(new_id) for new_id in conn.execute(returning, rows).scalars()]
            conn.execute(insert(audit_table), [_audit_row(r, i, actor, now) for r, i in zip(records, ids, strict=True)])
            return ids
        dialect = self.engine.dialect
        inbound_binders = _binders(inbound_table, _INBOUND_COLUMNS, dialect)
        audit_binders = _binders(audit_table, _AUDIT_COLUMNS, dialect)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()  # inside SQLAlchemy's BEGIN IMMEDIATE: the same transaction, committed with it
        try:
            ids = [
                int(
                    cursor.execute(_SQLITE_INSERT_INBOUND, _bound(row, _INBOUND_COLUMNS, inbound_binders)).fetchone()[0]
                )
                for row in rows
            ]
            audits = [_audit_row(r, i, actor, now) for r, i in zip(records, ids, strict=True)]
            cursor.executemany(_SQLITE_INSERT_AUDIT, [_bound(a, _AUDIT_COLUMNS, audit_binders) for a in audits])
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(_SQLITE_INSERT_INBOUND, None, exc) from None
        except sqlite3.Error as exc:
            raise JobStoreError(f"job store sqlite failed: {type(exc).__name__}") from exc
        finally:
            cursor.close()
        return ids

    def _find_inbound(self, conn: Connection, channel: str, key: str) -> int | None:
        table = inbound_table
        found = conn.execute(select(table.c.id).where(table.c.channel == channel, table.c.key == key)).scalar()
        return int(found) if found is not None else None

    def has_inbound(self, channel: str, key: str) -> bool:
        """Whether this event is stored already (any state)."""
        with self._tx() as conn:
            return self._find_inbound(conn, channel, key) is not None

    def get_inbound(self, inbound_id: int) -> StoredInbound | None:
        with self._tx() as conn:
            row = conn.execute(select(inbound_table).where(inbound_table.c.id == inbound_id)).mappings().first()
        return inbound_of(row) if row else None

    def list_inbound(self, status: Status | None = None, limit: int = 100) -> list[StoredInbound]:
        query = select(inbound_table).order_by(inbound_table.c.id).limit(limit)
        if status is not None:
            query = query.where(inbound_table.c.status == status.value)
        with self._tx() as conn:
            return [inbound_of(r) for r in conn.execute(query).mappings()]
