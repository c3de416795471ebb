"""Physician review of posted drafts: edit, sign, reject, regenerate; EHR follow-up; feedback pairs.

API (for the worklist's POST handlers and the CLI). ``user`` is anything with ``name`` and ``practitioner``
(``Practitioner/<id>`` or None), e.g. ``rtletter.agent.worklist.users.User``; ``channel`` is the job's channel
object (``channels[job.channel]``)::

    save_edit(store, job_id, user, text)                      -> None   edit history kept, draft stays preliminary
    sign(store, job_id, user, text=None, *, channel,
         acknowledge_course_change=False)                     -> Job    status signed
    reject(store, job_id, user, reason, *, channel)           -> Job    status rejected
    regenerate(store, job_id, user, *, channel, generator)    -> int    same job id, next draft version
    current_text(store, job_id)                               -> str | None   last saved edit, else the draft
    review_store(store)                                       -> ReviewStore  edits, decisions, pairs (read)

    ReviewService(store, channels, generator=None)   the same, in the worklist's ``ReviewActions`` shape:
        .save_edit(job_id, text, user) .sign(job_id, text, user, *, acknowledge_course_change=False)
        .reject(job_id, reason, user)  .regenerate(job_id, user) -> job id

    build_review_actions(store, settings, *, channels=None, generator=None)
        -> WorklistActions: what ``rtletter.agent.worklist.routes.default_actions`` calls; raises the worklist's
        ``ActionRefused``. Pass the running agent's channels/generator; else built from settings at first use.

Every refusal is ``ReviewRefused`` (an ``AgentError``) with a message for the user, free of patient data: no such
draft, not posted (already signed / rejected / superseded), the course changed after drafting (sign needs
``acknowledge_course_change=True``), empty text or reason, an account without a Practitioner reference signing in
the EHR, the EHR changed the draft meanwhile (HTTP 412 on the versioned update: nothing overwritten), the channel
did not answer. Each action is audited (``audit`` table: actor ``user:<name>``, what, when; no text).

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

from rtletter.agent.review.actions import (
    Reviewer,
    ReviewService,
    current_text,
    regenerate,
    reject,
    review_store,
    save_edit,
    sign,
)
from rtletter.agent.review.post import ReviewRefused, SignOff, SignOffChannel
from rtletter.agent.review.store import ReviewState, ReviewStore, SignedPair

__all__ = [
    "ReviewRefused",
    "ReviewService",
    "ReviewState",
    "ReviewStore",
    "Reviewer",
    "SignOff",
    "SignOffChannel",
    "SignedPair",
    "current_text",
    "regenerate",
    "reject",
    "review_store",
    "save_edit",
    "sign",
]
