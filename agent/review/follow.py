"""EHR worklist mode: physicians sign or reject inside the EHR; the agent follows its Tasks and DocumentReferences.

``EhrFollower.poll()`` searches the server for the drafts the agent posted that are still open in the job store
(``Task?_id=...`` and ``DocumentReference?_id=...``, a few dozen ids per request, with ``_lastUpdated=ge<mark -
overlap>`` once a mark exists), and ``apply()`` decides each changed draft:

- signed: the DocumentReference is ``docStatus`` final/amended (its text becomes the job's final text; signer =
  ``authenticator``; without one the signer is recorded as unknown, never guessed from ``Task.owner``), or the
  Task is ``completed`` with an ``output`` pointing at a final DocumentReference (an EHR that files the signed
  letter as a new document);
- rejected: the Task is ``rejected``/``cancelled`` (reason = ``statusReason.text``) or the document
  ``entered-in-error``;
- anything else (the Task ``in-progress``, a completed Task whose document is still preliminary): still open, seen
  again at the next change.

The mark is the server's own clock (the search Bundle's ``meta.lastUpdated``), kept in ``channel_state``
(``fhir``/``review/follow_mark``); the overlap absorbs clock skew between the server's writers. Deciding is
idempotent (conditional on the job still being posted), so a replay or a subscription notification for the same
change does nothing twice: a subscription sink may hand the notified resources to ``apply()`` directly.

``changed`` in a round's result (and its ``ehr follow`` log line) counts real changes only: a resource version the
follower has not seen before, other than the version 1 the agent itself posted (the overlap window and the first
round bring unchanged resources back). Seen versions are kept in ``channel_state`` (``review/seen/<Type>/<id>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger
from rtletter.agent.review.service import ReviewService
from rtletter.mappers.errors import MappingError
from rtletter.mappers.fhir import attachment_text

log = get_logger(__name__)

MARK_KEY = "review/follow_mark"
OVERLAP_S = 120.0
IDS_PER_SEARCH = 40  # keeps the URL well under common 8 KiB limits
ACTOR = "ehr:fhir"
SEEN_PREFIX = "review/seen/"
SIGNER_UNKNOWN = "signed in the EHR, signer unknown"  # the signed document names no authenticator


@dataclass
class FollowResult:
    checked: int = 0  # open drafts looked for
    changed: int = 0  # resources changed since the follower last saw them (not the agent's own version 1)
    signed: int = 0
    rejected: int = 0


def _id(reference: str | None) -> str | None:
    if not reference or "/" not in reference:
        return None
    return reference.split("/", 2)[1]


def _parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def _versioned(resource: Resource) -> str:
    ref = f"{resource['resourceType']}/{resource['id']}"
    version = (resource.get("meta") or {}).get("versionId")
    return f"{ref}/_history/{version}" if version else ref


class EhrFollower:
    def __init__(
        self,
        store: JobStore,
        client: FhirClient,
        *,
        channel: str = "fhir",
        overlap_s: float = OVERLAP_S,
        ids_per_search: int = IDS_PER_SEARCH,
    ) -> None:
        self.store = store
        self.client = client
        self.channel = channel
        self.overlap = timedelta(seconds=overlap_s)
        self.ids_per_search = ids_per_search
        self.service = ReviewService(store)  # records the decisions found, with their audit

    def _search(self, rtype: str, ids: Sequence[str], since: str | None, marks: list[str]) -> list[Resource]:
        found: list[Resource] = []
        for start in range(0, len(ids), self.ids_per_search):
            chunk = ids[start : start + self.ids_per_search]
            params = [("_id", ",".join(chunk)), ("_count", str(len(chunk)))]  # one page per chunk
            if since:
                params.append(("_lastUpdated", f"ge{since}"))
            for page in self.client.pages(rtype, params):
                stamp = (page.get("meta") or {}).get("lastUpdated")
                if stamp:
                    marks.append(stamp)
                found += [e["resource"] for e in page.get("entry", []) if e.get("resource")]
        return found

    def poll(self) -> FollowResult:
        """One round: search the open drafts' Tasks and DocumentReferences changed since the mark, apply them."""
        jobs = self.store.posted_jobs(self.channel)
        result = FollowResult(checked=len(jobs))
        if not jobs:
            return result
        mark = self.store.get_state(self.channel, MARK_KEY)
        since = (_parse(mark) - self.overlap).isoformat(timespec="milliseconds") if mark else None
        marks: list[str] = []
        task_ids = [i for i in (_id(j["posted_task"]) for j in jobs) if i]
        doc_ids = [i for i in (_id(j["posted_document"]) for j in jobs) if i]
        changed = self._search("Task", task_ids, since, marks)
        changed += self._search("DocumentReference", doc_ids, since, marks)
        result.changed = sum(1 for resource in changed if self._new_version(resource))
        decided = self.apply(changed, jobs=jobs)
        result.signed, result.rejected = decided.signed, decided.rejected
        if marks:
            self.store.set_state(self.channel, MARK_KEY, min(marks))  # the earliest server time of this round
        log.info("ehr follow", checked=result.checked, changed=result.changed, signed=result.signed,
                 rejected=result.rejected)  # fmt: skip
        return result

    def _new_version(self, resource: Resource) -> bool:
        """Whether this version is a change the follower has not seen (records it as seen)."""
        version = str((resource.get("meta") or {}).get("versionId") or "")
        if version in ("", "1"):  # as the agent posted it
            return False
        key = f"{SEEN_PREFIX}{resource.get('resourceType')}/{resource.get('id')}"
        if self.store.get_state(self.channel, key) == version:
            return False
        self.store.set_state(self.channel, key, version)
        return True

    def apply(self, resources: Iterable[Resource], *, jobs: list[dict[str, Any]] | None = None) -> FollowResult:
        """Decide the drafts these (changed) Tasks/DocumentReferences belong to."""
        jobs = jobs if jobs is not None else self.store.posted_jobs(self.channel)
        by_task = {_id(j["posted_task"]): j for j in jobs if j["posted_task"]}
        by_doc = {_id(j["posted_document"]): j for j in jobs if j["posted_document"]}
        touched: dict[int, dict[str, Resource]] = {}
        for resource in resources:
            rtype, rid = resource.get("resourceType"), resource.get("id")
            job = by_task.get(rid) if rtype == "Task" else by_doc.get(rid) if rtype == "DocumentReference" else None
            if job is not None:
                touched.setdefault(job["id"], {"job": job})[str(rtype)] = resource
        result = FollowResult()
        for job_id, seen in touched.items():
            outcome = self._decide(job_id, seen)
            if outcome == Status.signed:
                result.signed += 1
            elif outcome == Status.rejected:
                result.rejected += 1
        return result

    def _read(self, reference: str | None) -> Resource | None:
        rid = _id(reference)
        return self.client.read(str(reference).split("/", 1)[0], rid) if rid else None

    def _decide(self, job_id: int, seen: dict[str, Any]) -> Status | None:
        job = seen["job"]
        task: Resource | None = seen.get("Task") or self._read(job["posted_task"])
        document: Resource | None = seen.get("DocumentReference") or self._read(job["posted_document"])
        if document is None:
            return None
        final = document if document.get("docStatus") in ("final", "amended") else None
        if final is None and task is not None and task.get("status") == "completed":
            # Some EHRs file the signed letter as a new DocumentReference and point the Task's output at it.
            for output in task.get("output") or []:
                ref = (output.get("valueReference") or {}).get("reference", "")
                if ref.startswith("DocumentReference/") and _id(ref) != document.get("id"):
                    other = self._read(ref)
                    if other and other.get("docStatus") in ("final", "amended"):
                        final = other
        rejected = document.get("status") == "entered-in-error" or (
            task is not None and task.get("status") in ("rejected", "cancelled")
        )
        if final is not None and final.get("status") == "current":
            try:
                text = attachment_text(final)
            except MappingError:
                text = None
            if text is None:
                log.warning("signed in the EHR without inline text; job left open", job_id=job_id)
                return None
            signer = (final.get("authenticator") or {}).get("reference")
            stamp = (final.get("meta") or {}).get("lastUpdated")
            done = self.service.record_decision(
                job_id,
                Status.signed,
                actor=ACTOR,
                via="ehr",
                final_text=text,
                signer_reference=signer,
                signer=None if signer else SIGNER_UNKNOWN,
                final_document=_versioned(final),
                decided_at=_parse(stamp) if stamp else None,
            )
            return Status.signed if done else None
        if rejected:
            reason = (((task or {}).get("statusReason") or {}).get("text")) or "rejected in the EHR"
            done = self.service.record_decision(
                job_id,
                Status.rejected,
                actor=ACTOR,
                via="ehr",
                reason=reason,
                signer_reference=((task or {}).get("owner") or {}).get("reference"),
                final_document=_versioned(document),
            )
            return Status.rejected if done else None
        return None


def follower_for(store: JobStore, channel: Any, **kwargs: Any) -> EhrFollower:
    """The follower on a FHIR channel's client (``channels["fhir"]``)."""
    return EhrFollower(store, channel.client, channel=getattr(channel, "name", "fhir"), **kwargs)


def run_once(follower: EhrFollower) -> FollowResult:
    """For the scheduler: one round, errors logged (no PHI: channel errors name type and status only)."""
    try:
        return follower.poll()
    except Exception as exc:  # the next round tries again
        log.warning("ehr follow failed", error=type(exc).__name__, message=str(exc)[:200])
        return FollowResult()


def ehr_follower(store: JobStore, channels: dict[str, Any] | Any) -> EhrFollower | None:
    """The follower for the running agent's FHIR channel, None without one (for ``serve``'s poll job)."""
    channel = channels.get("fhir") if hasattr(channels, "get") else None
    return follower_for(store, channel) if channel is not None and hasattr(channel, "client") else None
