"""The review's own tables, on the job store's database (same engine, tables of their own).

    review_state   one row per job that a person touched: the edited text, the draft version, the decision
                   (signed | rejected), the signed text, signer, when, and where (worklist | ehr | cli)
    review_edits   every saved edit (who, when, the text): the edit history
    review_drafts  every draft version replaced by a regeneration (text, meta, where it was posted)

The (draft, signed final) pair of a job is ``jobs.draft_text`` (the version that was signed) and
``review_state.final_text``; ``decided`` reads them for the dataset export and the dashboard.

Tables are created on first use (``create_all`` only adds missing tables): no migration of existing ones. The jobs
table is the job store's: what a decision does to the job (posted -> signed | rejected, conditional on ``posted`` so
that two physicians signing at once cannot both win) is ``JobStore.decide``. The writes here take the caller's
connection: the review service (``rtletter.agent.review.service``) runs them, the job's change and the audit row in
one transaction. Before a decision is carried to the channel, ``claim`` takes a short lease on the job
(``pending_by``/``pending_until``), so that a second decision is refused up front instead of writing the outbox or
the EHR at the same time; a crashed holder's lease runs out.
"""

from __future__ import annotations

import json
import weakref
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.schema import UTCDateTime
from rtletter.agent.jobs.store import JobStore

metadata = MetaData()

state_table = Table(
    "review_state",
    metadata,
    Column("job_id", Integer, primary_key=True),
    Column("draft_version", Integer, nullable=False, default=1),
    Column("current_text", Text),  # the last saved edit; None: the draft as generated
    Column("edited_by", String(128)),
    Column("edited_at", UTCDateTime),
    Column("outcome", String(16)),  # signed | rejected | None (open)
    Column("final_text", Text),  # the signed text
    Column("reason", Text),  # the rejection reason (the physician's words)
    Column("signer", String(128)),  # user name (worklist) or the EHR's authenticator reference
    Column("signer_reference", String(256)),  # Practitioner/...
    Column("decided_at", UTCDateTime),
    Column("decided_via", String(16)),  # worklist | ehr | cli
    Column("final_document", String(1024)),  # DocumentReference/x/_history/n or the outbox path
    Column("pending_by", String(128)),  # who is carrying a decision to the channel right now (a lease)
    Column("pending_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

edits_table = Table(
    "review_edits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False, index=True),
    Column("draft_version", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("text", Text, nullable=False),
)

drafts_table = Table(
    "review_drafts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False, index=True),
    Column("draft_version", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("document", String(1024)),
    Column("task", String(1024)),
    Column("superseded_at", UTCDateTime, nullable=False),
    Column("superseded_by", String(128), nullable=False),
)


CLAIM_LEASE_S = 120.0  # longer than a channel call with its time-outs


@dataclass(frozen=True)
class ReviewState:
    job_id: int
    draft_version: int
    current_text: str | None
    edited_by: str | None
    edited_at: datetime | None
    outcome: str | None
    final_text: str | None
    reason: str | None
    signer: str | None
    signer_reference: str | None
    decided_at: datetime | None
    decided_via: str | None
    final_document: str | None


@dataclass(frozen=True)
class SignedPair:
    """One decided job for feedback: the draft, the final text, who/when, which model wrote it."""

    job_id: int
    case_json: str | None
    draft_text: str
    final_text: str | None  # None for a rejection
    outcome: str
    model: str
    posted_at: datetime | None
    decided_at: datetime
    decided_via: str
    edits: int


class ReviewStore:
    """Reads and writes the review tables (the job's own changes go through its ``JobStore``)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.clock = store.clock
        self.create_tables()

    def _tx(self) -> AbstractContextManager[Connection]:
        return self.store.transaction("review tables")

    def create_tables(self) -> None:
        self.store.create_tables_of(metadata, "review tables")

    # --- reading --------------------------------------------------------------------------------------------------

    def get(self, job_id: int) -> ReviewState:
        """The job's review state (a fresh one, version 1 and undecided, when nobody touched it yet)."""
        with self._tx() as conn:
            row = conn.execute(select(state_table).where(state_table.c.job_id == job_id)).mappings().first()
        if row is None:
            return ReviewState(job_id, 1, None, None, None, None, None, None, None, None, None, None, None)
        return ReviewState(**{k: row[k] for k in ReviewState.__dataclass_fields__})

    def edits(self, job_id: int) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(select(edits_table).where(edits_table.c.job_id == job_id).order_by(edits_table.c.id))
            return [dict(r) for r in rows.mappings()]

    def drafts(self, job_id: int) -> list[dict[str, Any]]:
        """Earlier (superseded) draft versions of the job, oldest first."""
        with self._tx() as conn:
            query = select(drafts_table).where(drafts_table.c.job_id == job_id).order_by(drafts_table.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]

    def decided(self, *, outcome: str | None = None) -> list[SignedPair]:
        """Every decided job (signed and rejected; or only ``outcome``), oldest decision first."""
        s = state_table
        query = (
            select(s.c.job_id, s.c.final_text, s.c.outcome, s.c.decided_at, s.c.decided_via)
            .where(s.c.outcome.is_not(None))
            .order_by(s.c.decided_at, s.c.job_id)
        )
        if outcome is not None:
            query = query.where(s.c.outcome == outcome)
        with self._tx() as conn:
            rows = list(conn.execute(query).mappings())
            jobs = self.store.jobs_by_id((r["job_id"] for r in rows), conn=conn)
            counts: dict[int, int] = {}
            for job_id, *_ in conn.execute(select(edits_table.c.job_id)):
                counts[job_id] = counts.get(job_id, 0) + 1
        return [
            SignedPair(
                job_id=r["job_id"],
                case_json=job.case_json,
                draft_text=job.draft_text or "",
                final_text=r["final_text"],
                outcome=r["outcome"],
                model=job.draft_meta.get("model", ""),
                posted_at=job.posted_at,
                decided_at=r["decided_at"],
                decided_via=r["decided_via"] or "",
                edits=counts.get(r["job_id"], 0),
            )
            for r in rows
            if (job := jobs.get(r["job_id"])) is not None
        ]

    # --- writing --------------------------------------------------------------------------------------------------

    def _upsert(self, conn: Connection, job_id: int, **values: Any) -> None:
        values["updated_at"] = self.clock()
        done = conn.execute(update(state_table).where(state_table.c.job_id == job_id).values(**values))
        if done.rowcount == 0:
            conn.execute(insert(state_table).values(job_id=job_id, **values))

    def claim(self, job_id: int, actor: str, lease_s: float = CLAIM_LEASE_S) -> bool:
        """Take the job's decision lease: False when the job is not posted or someone else holds a live lease."""
        now = self.clock()
        with self._tx() as conn:
            # The job row stays locked until this commits: claims on one job queue here.
            if self.store.job_status(job_id, conn=conn, lock=True) != Status.posted:
                return False
            held = conn.execute(
                select(state_table.c.pending_by, state_table.c.pending_until).where(state_table.c.job_id == job_id)
            ).first()
            if held is not None and held[0] and held[0] != actor and held[1] is not None and held[1] > now:
                return False
            self._upsert(conn, job_id, pending_by=actor, pending_until=now + timedelta(seconds=lease_s))
        return True

    def release(self, job_id: int, actor: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(state_table)
                .where(state_table.c.job_id == job_id, state_table.c.pending_by == actor)
                .values(pending_by=None, pending_until=None)
            )

    def save_edit(self, conn: Connection, job_id: int, actor: str, text: str) -> bool:
        """Keep ``text`` as the draft's current text and in the edit history. False when the job is not posted."""
        now = self.clock()
        if self.store.job_status(job_id, conn=conn) != Status.posted:
            return False
        version = conn.execute(select(state_table.c.draft_version).where(state_table.c.job_id == job_id)).scalar()
        conn.execute(
            insert(edits_table).values(job_id=job_id, draft_version=version or 1, at=now, actor=actor, text=text)
        )
        self._upsert(conn, job_id, current_text=text, edited_by=actor, edited_at=now)
        return True

    def record_decision(
        self,
        conn: Connection,
        job_id: int,
        *,
        outcome: Status,
        signer: str,
        via: str,
        final_text: str | None = None,
        reason: str | None = None,
        signer_reference: str | None = None,
        final_document: str | None = None,
        decided_at: datetime | None = None,
    ) -> None:
        """The decision on the job (whose status ``JobStore.decide`` changed in ``conn``); the decision lease ends."""
        self._upsert(
            conn,
            job_id,
            outcome=outcome.value,
            final_text=final_text,
            reason=reason,
            signer=signer,
            signer_reference=signer_reference,
            decided_at=decided_at or self.clock(),
            decided_via=via,
            final_document=final_document,
            pending_by=None,
            pending_until=None,
        )

    def replace_draft(
        self,
        conn: Connection,
        job_id: int,
        *,
        actor: str,
        old_version: int,
        text: str,
        meta: dict[str, str],
        document: str,
        task: str | None,
    ) -> bool:
        """Record a regenerated draft: the old one into ``review_drafts``, the job's draft and refs replaced, the
        edit cleared. Conditional on the job still being posted at ``old_version``."""
        now = self.clock()
        job = self.store.get_job(job_id, conn=conn)
        version = conn.execute(select(state_table.c.draft_version).where(state_table.c.job_id == job_id)).scalar()
        if job is None or job.status != Status.posted or (version or 1) != old_version:
            return False
        conn.execute(
            insert(drafts_table).values(
                job_id=job_id,
                draft_version=old_version,
                text=job.draft_text or "",
                meta=json.dumps(job.draft_meta, sort_keys=True),
                document=job.posted_document,
                task=job.posted_task,
                superseded_at=now,
                superseded_by=actor,
            )
        )
        self.store.replace_draft(job_id, text=text, meta=meta, document=document, task=task, conn=conn)
        self._upsert(
            conn,
            job_id,
            draft_version=old_version + 1,
            current_text=None,
            edited_by=None,
            edited_at=None,
            pending_by=None,
            pending_until=None,
        )
        return True


_reviews: weakref.WeakKeyDictionary[JobStore, ReviewStore] = weakref.WeakKeyDictionary()


def review_store(store: JobStore) -> ReviewStore:
    """The review tables on this job store (created on first use, once per store object)."""
    found = _reviews.get(store)
    if found is None:
        found = _reviews[store] = ReviewStore(store)
    return found
