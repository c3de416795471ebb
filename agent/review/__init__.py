"""Physician review of posted drafts: edit, sign, reject, regenerate; EHR follow-up; feedback pairs.

API: one service for the worklist's POST handlers and the ``rtletter review`` CLI (``service.ReviewService``).
``user`` is anything with ``name`` and ``practitioner`` (``Practitioner/<id>`` or None), e.g.
``rtletter.agent.worklist.users.User``; arguments come as: which draft, who, then what::

    ReviewService(store, channels=None, *, generator=None, max_prompt_tokens=3072, max_new_tokens=1024)
        .current_text(job_id)                                   -> str | None  last saved edit, else the draft
        .save_edit(job_id, user, text)                          -> None   edit history kept, draft stays preliminary
        .sign(job_id, user, text=None, *,
              acknowledge_course_change=False, acknowledge_findings=False) -> Job   status signed
        .reject(job_id, user, reason)                           -> Job    status rejected
        .regenerate(job_id, user)                               -> int    same job id, next draft version
        .record_decision(job_id, outcome, *, actor, via, ...)   -> bool   a decision taken in the EHR (``follow``)
    build_review_service(store, settings, *, channels=None, generator=None) -> ReviewService | None
        what the worklist router uses: the running agent's channels/generator, else built from settings at first use
    review_store(store)                                         -> ReviewStore  edits, decisions, pairs (read)

Every refusal is ``ReviewRefused`` (an ``AgentError``) with a message for the user, free of patient data: no such
draft, not posted (already signed / rejected / superseded), the course changed after drafting (sign needs
``acknowledge_course_change=True``), empty text or reason, an account without a Practitioner reference signing in
the EHR, the EHR changed the draft meanwhile (HTTP 412 on the versioned update: nothing overwritten), the channel
did not answer. The service audits each action once (``audit`` table: actor ``user:<name>``, what, when; no text),
in the transaction of the change; a refused action as "<action> refused". All SQL on the ``jobs`` table is the job
store's (``JobStore.decide``, ``replace_draft``, ``job_status``, ``posted_jobs``); ``store`` keeps the review's own
tables.

Where the decision goes (``post.poster_for``): FHIR -> one transaction from ``rtletter.mappers.fhir.signoff`` with
``ifMatch``; file channel -> ``<name>.signed.txt`` + ``<name>.signed.bundle.json`` in the outbox, sidecar status;
a channel implementing ``post.SignOffChannel`` (HL7 v2: MDM^T02 with TXA-17 AU) -> that channel.

EHR worklist mode (``follow.EhrFollower``, ``follow.ehr_follower(store, channels)``): polls the open drafts' Tasks and
DocumentReferences (``_lastUpdated``) and closes jobs signed or rejected in the EHR; the service's poll job calls
``follow.run_once(follower)``. Feedback: ``feedback.export_signed`` (``rtletter dataset export --signed``),
``stats.compute`` (the dashboard ``rtletter.agent.worklist.dashboard``, ``rtletter review stats``).
CLI: ``rtletter review follow | sign JOB --user U [--practitioner P] [--text-file F] | reject JOB --reason R | stats``.

Regenerate drafts synchronously in the request (the generator is the agent's); the old version is kept in
``review_drafts`` and superseded in the EHR (``relatesTo replaces``).
"""

from __future__ import annotations

from rtletter.agent.errors import ReviewRefused
from rtletter.agent.review.post import SignOff, SignOffChannel
from rtletter.agent.review.service import Reviewer, ReviewService, build_review_service
from rtletter.agent.review.store import ReviewState, ReviewStore, SignedPair, review_store

__all__ = [
    "ReviewRefused",
    "ReviewService",
    "ReviewState",
    "ReviewStore",
    "Reviewer",
    "SignOff",
    "SignOffChannel",
    "SignedPair",
    "build_review_service",
    "review_store",
]
