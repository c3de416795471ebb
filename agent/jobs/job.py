"""What the job store holds: the frozen ``Job`` and ``StoredInbound`` records and the ``Status`` they move through.

A job is one course's letter (idempotency key ``source:course id`` = ``Case.case_id``). Its status is the last step
that completed, so that a worker that crashed resumes at the next one::

    inbound row: received -> context_fetched (its cases became jobs)  | quarantined (unmappable)  | dead
                          -> ignored (mapped, but no case is drafted: mappers.checks.why_not_drafted, reason kept)
    job:         context_fetched -> generated -> posted -> signed | rejected (later, by the sign-off flow)
                 any open state -> dead (retries exhausted or a permanent error) | cancelled (by a user)

A step that fails leaves the status where it was and sets ``attempts``, ``next_attempt_at`` and ``last_error``:
"waiting for a retry" is not a state of its own because the state must keep saying which step comes next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    received = "received"  # stored raw, nothing done yet (inbound rows)
    context_fetched = "context_fetched"  # the case with its context is stored
    generated = "generated"  # the draft text is stored
    posted = "posted"  # the draft is in the EHR / outbox, waiting for sign-off
    signed = "signed"  # a physician signed it (set by the sign-off flow)
    rejected = "rejected"  # a physician rejected the draft (set by the sign-off flow; the document entered-in-error)
    quarantined = "quarantined"  # the inbound could not be mapped (inbound rows)
    ignored = "ignored"  # mapped, but nothing to draft, e.g. a course not finished (inbound rows; reason kept)
    dead = "dead"  # given up: retries exhausted or a permanent error; see last_error
    cancelled = "cancelled"  # stopped by a user
    superseded = "superseded"  # replaced by a newer draft of the same course (redraft after a course update)


# The next step for each state a worker may claim.
NEXT_STEP: dict[Status, str] = {
    Status.received: "fetch_context",
    Status.context_fetched: "generate",
    Status.generated: "post",
}
OPEN_STATES = frozenset(NEXT_STEP)
FINAL_STATES = frozenset(
    {
        Status.posted,
        Status.signed,
        Status.rejected,
        Status.quarantined,
        Status.ignored,
        Status.dead,
        Status.cancelled,
        Status.superseded,
    }
)


class Flag(StrEnum):
    course_updated_after_draft = "course_updated_after_draft"  # the source changed the course after we drafted


@dataclass(frozen=True)
class StoredInbound:
    """A stored raw event (the ``inbound`` table), as the worker sees it."""

    id: int
    channel: str
    key: str
    content_type: str
    payload: bytes
    meta: dict[str, str]
    received_at: datetime
    status: Status
    attempts: int
    last_error: str | None
    quarantine_reason: str | None


@dataclass(frozen=True)
class Job:
    """One course's letter (the ``jobs`` table)."""

    id: int
    key: str  # source:course id, unique
    channel: str
    inbound_id: int | None
    status: Status
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    case_json: str | None
    case_hash: str | None
    course_version: str | None  # the course version the draft was made from
    course_version_seen: str | None  # the newest version seen since
    draft_text: str | None
    draft_meta: dict[str, str]
    posted_document: str | None
    posted_task: str | None
    flags: frozenset[Flag]
    created_at: datetime
    updated_at: datetime
    posted_at: datetime | None = None  # when the current draft was posted (a regeneration posts again)

    @property
    def next_step(self) -> str | None:
        return NEXT_STEP.get(self.status)
