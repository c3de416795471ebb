"""Claims, and the state transitions a worker makes while it holds one (``JobStore``'s worker part).

A claim is a lease: ``claimed_by`` + ``lease_until``. A worker that dies loses its claim when the lease runs out,
and every completion below is conditional on still holding it (the late result of a worker that lost its claim is
dropped, the new holder's counts)::

    claim_inbound / claim_job   lease the oldest due row and read it, audited (PostgreSQL: FOR UPDATE SKIP LOCKED,
                                workers never wait on each other's rows; SQLite: BEGIN IMMEDIATE serialises them)
    record_cases                inbound received -> context_fetched; its cases become jobs (or update / flag them)
    transition(row, worker, to) one step done: ``STEPS[to]`` says which table, from which state, what is audited
    record_failure              a step failed: retry at a time, or dead (``retry.RetryStrategy`` decides which)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs.inbound import INTAKE_TRIES, REASON_MAX
from rtletter.agent.jobs.job import Flag, Job, Status, StoredInbound
from rtletter.agent.jobs.schema import (
    OPEN_BY_TABLE,
    TABLES,
    Database,
    flags_of,
    inbound_of,
    inbound_table,
    job_of,
    jobs_table,
)
from rtletter.mappers.case import Case

ERROR_MAX = 2000  # characters of last_error kept


class LostClaim(JobStoreError):
    """The row was taken over by another worker (our lease ran out): our result is dropped, theirs counts."""

    def __init__(self) -> None:
        super().__init__("claim lost to another worker")


@dataclass(frozen=True)
class IntakeOutcome:
    """What storing one mapped case did to the jobs table."""

    key: str
    job_id: int
    result: str  # "created" | "duplicate" | "updated" (no draft yet) | "flagged" (course changed after a draft)


@dataclass(frozen=True)
class Step:
    """A step's completion: the row moves to the state ``STEPS`` files it under."""

    table: Table
    source: Status | None  # the state the row must still be in; None: the claim alone decides
    fields: frozenset[str]  # the columns the step stores
    entity: str  # audit entity
    what: str  # audit text; {column} is filled from the stored fields
    finishes_attempts: bool = False  # attempts and last_error start afresh for the next step
    stamps: tuple[str, ...] = ()  # columns set to now besides updated_at


STEPS: dict[Status, Step] = {
    Status.generated: Step(
        jobs_table,
        Status.context_fetched,
        frozenset({"draft_text", "draft_meta"}),
        "job",
        "draft stored",
        finishes_attempts=True,
        stamps=("next_attempt_at",),  # the post is due at once
    ),
    Status.posted: Step(
        jobs_table,
        Status.generated,
        frozenset({"posted_document", "posted_task"}),
        "draft",
        "draft posted as {posted_document}",
        finishes_attempts=True,
        stamps=("posted_at",),
    ),
    # A mapped inbound event that makes no job (mappers.checks.why_not_drafted): kept, visible with its reason
    # (``quarantine_reason`` holds why a row made no job), never claimed again.
    Status.ignored: Step(inbound_table, None, frozenset({"quarantine_reason"}), "inbound", "ignored"),
    # An inbound event that cannot be mapped: kept, marked, never retried unchanged.
    Status.quarantined: Step(inbound_table, None, frozenset({"quarantine_reason"}), "inbound", "quarantined"),
}

# How a field is written to its column.
_ENCODE: dict[str, Callable[[Any], Any]] = {
    "draft_meta": lambda meta: json.dumps(meta, sort_keys=True),
    "quarantine_reason": lambda reason: reason[:REASON_MAX],
}


def case_hash(case: Case) -> str:
    """A content hash of the case, to tell a replay (same hash) from an updated course."""
    return hashlib.sha256(case.model_dump_json().encode("utf-8")).hexdigest()


def _course_version(case: Case) -> str | None:
    return case.course.source or None


class Claims(Database):
    """Leasing rows to one worker and recording what its steps did."""

    lease: timedelta  # set by JobStore

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
            self.audit(worker, "read", entity, row["id"] if table is inbound_table else row["key"], what, conn=conn)
        return row

    def claim_inbound(self, worker: str) -> StoredInbound | None:
        """Claim the oldest due inbound event that still needs mapping."""
        row = self._claim(inbound_table, [Status.received], worker, "raw payload read for mapping")
        return inbound_of(row) if row is not None else None

    def claim_job(self, worker: str, *, to_generate: bool = False) -> Job | None:
        """Claim the oldest due job with a step left (generate or post); ``to_generate``: only one to draft."""
        states = [Status.context_fetched] if to_generate else sorted(OPEN_BY_TABLE["jobs"])
        row = self._claim(jobs_table, states, worker, "case read for its next step")
        return job_of(row) if row is not None else None

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
            except IntegrityError:  # two workers inserted the same course at once; the loser re-reads and merges
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
                    self.audit(worker, "write", "job", case.case_id, "case stored", conn=conn)
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
                    self.audit(worker, "write", "job", case.case_id, "case replaced before drafting", conn=conn)
                    continue
                flags = flags_of(row["flags"]) | {Flag.course_updated_after_draft}
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
                self.audit(worker, "write", "job", case.case_id, "flagged: course updated after draft", conn=conn)
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
            self.audit(worker, "read", "inbound", inbound_id, f"context fetched from {channel}", conn=conn)
        return outcomes

    def transition(self, row_id: int, worker: str, to: Status, **fields: Any) -> bool:
        """The claimed row's step is done: move it to ``to`` with ``fields`` stored, release the claim, audit it.
        False when the claim was lost (another worker took over; its result counts, not ours).

        ``to`` picks the step (``STEPS``): ``generated`` (``draft_text``, ``draft_meta``), ``posted``
        (``posted_document``, ``posted_task``), ``ignored`` / ``quarantined`` (``quarantine_reason``)."""
        step = STEPS[to]
        if set(fields) != step.fields:
            raise TypeError(f"the step to {to} stores {sorted(step.fields)}, got {sorted(fields)}")
        table = step.table
        now = self.clock()
        values: dict[str, Any] = {name: _ENCODE.get(name, _same)(value) for name, value in fields.items()}
        values.update(status=to.value, claimed_by=None, lease_until=None, updated_at=now)
        values.update(dict.fromkeys(step.stamps, now))
        if step.finishes_attempts:
            values.update(attempts=0, last_error=None)
        condition = [table.c.id == row_id, table.c.claimed_by == worker]
        if step.source is not None:
            condition.append(table.c.status == step.source.value)
        with self._tx() as conn:
            done = conn.execute(update(table).where(*condition).values(**values))
            if done.rowcount == 1:
                self.audit(worker, "write", step.entity, row_id, step.what.format(**fields), conn=conn)
        return done.rowcount == 1

    def record_failure(
        self, table_name: str, row_id: int, worker: str, *, error: str, retry_at: datetime | None
    ) -> Status | None:
        """A step failed: schedule the retry at ``retry_at``, or dead-letter when it is None. Returns the new status."""
        table = TABLES[table_name]
        now = self.clock()
        values: dict[str, Any] = {
            "attempts": table.c.attempts + 1,
            "last_error": error[:ERROR_MAX],
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


def _same(value: Any) -> Any:
    return value
