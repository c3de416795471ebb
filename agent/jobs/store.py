"""All SQL of the agent's jobs behind one class, ``JobStore`` (SQLAlchemy 2 Core), one module per concern::

    schema    the tables, their creation, the engine (SQLite WAL / PostgreSQL), transactions, the audit row
    inbound   raw events stored before they are acknowledged, with the group commit (``store_inbound_many``)
    claims    leases on due rows and the transitions a worker makes while it holds one (``transition``)
    store     this module: reading, the operator's actions (retry, cancel), the sign-off's changes to a job
              (posted -> signed | rejected, a regenerated draft), channel state

The sign-off's methods take ``conn=``: the review service runs them in its own transaction with its review tables
and the audit row, so that a decision and the job's status commit together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs.claims import Claims
from rtletter.agent.jobs.inbound import INTAKE_TRIES, InboundStorage
from rtletter.agent.jobs.job import FINAL_STATES, OPEN_STATES, Job, Status
from rtletter.agent.jobs.schema import (
    OPEN_BY_TABLE,
    TABLES,
    audit_table,
    channel_state_table,
    job_of,
    jobs_table,
    utcnow,
)

IDS_PER_QUERY = 500  # ids in one IN (...) list: well under SQLite's limit on bound parameters


class JobStore(InboundStorage, Claims):
    """The durable queue: inbound events, jobs, audit. Thread-safe; one per process.

    Args:
        url: SQLAlchemy URL (``sqlite:///var/rtletter.db``, ``postgresql+psycopg://user@host/db``).
        clock: returns aware UTC now; tests pin it.
        lease_s: how long a claim holds before another worker may take the row over.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow, lease_s: float = 900.0) -> None:
        super().__init__(url, clock=clock)
        self.lease = timedelta(seconds=lease_s)

    # --- reading ----------------------------------------------------------------------------------------------------

    def get_job(self, ref: int | str, *, conn: Connection | None = None) -> Job | None:
        """A job by id or by key."""
        column = jobs_table.c.id if isinstance(ref, int) else jobs_table.c.key
        with self._joined(conn) as tx:
            row = tx.execute(select(jobs_table).where(column == ref)).mappings().first()
        return job_of(row) if row else None

    def jobs_by_id(self, ids: Iterable[int], *, conn: Connection | None = None) -> dict[int, Job]:
        """The jobs of these ids that exist."""
        wanted = sorted(set(ids))
        found: dict[int, Job] = {}
        with self._joined(conn) as tx:
            for start in range(0, len(wanted), IDS_PER_QUERY):
                chunk = wanted[start : start + IDS_PER_QUERY]
                for row in tx.execute(select(jobs_table).where(jobs_table.c.id.in_(chunk))).mappings():
                    found[row["id"]] = job_of(row)
        return found

    def list_jobs(self, status: Status | None = None, limit: int = 100) -> list[Job]:
        query = select(jobs_table).order_by(jobs_table.c.id).limit(limit)
        if status is not None:
            query = query.where(jobs_table.c.status == status.value)
        with self._tx() as conn:
            return [job_of(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per status, per table: ``{"jobs": {"posted": 3}, "inbound": {...}}``."""
        result: dict[str, dict[str, int]] = {}
        with self._tx() as conn:
            for name, table in TABLES.items():
                rows = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
                result[name] = {status: int(n) for status, n in rows}
        return result

    def pending(self) -> tuple[int, datetime | None]:
        """How many rows still have a step to run, and when the earliest of them is due."""
        total = 0
        earliest: datetime | None = None
        with self._tx() as conn:
            for name, table in TABLES.items():
                open_values = [s.value for s in OPEN_BY_TABLE[name]]
                n, first = conn.execute(
                    select(func.count(), func.min(table.c.next_attempt_at)).where(table.c.status.in_(open_values))
                ).one()
                total += int(n)
                if first is not None:
                    earliest = first if earliest is None or first < earliest else earliest
        return total, earliest

    def audit_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(select(audit_table).order_by(audit_table.c.id).limit(limit)).mappings()
            return [dict(r) for r in rows]

    # --- the operator's actions -------------------------------------------------------------------------------------

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
            self.audit(actor, "write", "job", job.key, f"retry requested ({job.status} -> {status})", conn=conn)
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
            self.audit(actor, "write", "job", job.key, "cancelled", conn=conn)
        return self.get_job(job.id)  # type: ignore[return-value]

    # --- the sign-off's changes to a job (``rtletter.agent.review``; audited by the review service) ------------------

    def posted_jobs(self, channel: str) -> list[dict[str, Any]]:
        """id, posted_document, posted_task of every job of ``channel`` still waiting for a decision."""
        j = jobs_table
        query = (
            select(j.c.id, j.c.posted_document, j.c.posted_task)
            .where(j.c.channel == channel, j.c.status == Status.posted.value)
            .order_by(j.c.id)
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def job_status(self, job_id: int, *, conn: Connection | None = None, lock: bool = False) -> Status | None:
        """The job's status, None when there is no such job. ``lock``: hold the row until ``conn`` commits
        (PostgreSQL; SQLite serialises with BEGIN IMMEDIATE), so that decisions on one job queue there."""
        query = select(jobs_table.c.status).where(jobs_table.c.id == job_id)
        with self._joined(conn) as tx:
            status = tx.execute(query.with_for_update() if lock else query).scalar()
        return Status(status) if status is not None else None

    def decide(self, job_id: int, outcome: Status, *, conn: Connection | None = None) -> bool:
        """posted -> signed | rejected. False when the job was no longer posted (someone decided first)."""
        if outcome not in (Status.signed, Status.rejected):
            raise ValueError(f"a decision is signed or rejected, not {outcome}")
        with self._joined(conn) as tx:
            done = tx.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, jobs_table.c.status == Status.posted.value)
                .values(status=outcome.value, updated_at=self.clock())
            )
        return done.rowcount == 1

    def replace_draft(
        self,
        job_id: int,
        *,
        text: str,
        meta: dict[str, str],
        document: str,
        task: str | None,
        conn: Connection | None = None,
    ) -> None:
        """A regenerated draft, posted as ``document``/``task``, replaces the job's draft (the job stays posted)."""
        now = self.clock()
        with self._joined(conn) as tx:
            tx.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id)
                .values(
                    draft_text=text,
                    draft_meta=json.dumps(meta, sort_keys=True),
                    posted_document=document,
                    posted_task=task,
                    posted_at=now,
                    updated_at=now,
                )
            )

    # --- channel state ----------------------------------------------------------------------------------------------

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


class ChannelState:
    """``get``/``set`` for one channel, backed by the ``channel_state`` table (the FHIR channel's StateStore)."""

    def __init__(self, store: JobStore, channel: str) -> None:
        self.store = store
        self.channel = channel

    def get(self, key: str) -> str | None:
        return self.store.get_state(self.channel, key)

    def set(self, key: str, value: str) -> None:
        self.store.set_state(self.channel, key, value)
