"""Poll the FHIR server for radiotherapy courses that have just completed or stopped.

docs/standards.md, "Watching for events": search
``Procedure?code=<course codes>&status=completed,stopped&_lastUpdated=ge<mark - overlap>``, follow ``next`` links,
dedupe by id + versionId (boundary instants repeat inside the overlap window). The search never reaches before the
poll start (``START_KEY`` in the store): the instant of the agent's first poll (``channels.fhir.poll_start:
first-start``, the default) or an explicit start. History before it comes only through ``rtletter backfill``, so a
go-live does not draft every course the server has ever held. The course summary is updated in place
after every fraction, so only its change to ``completed``/``stopped`` starts a letter; a later version of a course
already seen completed is reported as ``updated`` (the job store records and surfaces it, it does not redraft).

Crash safety: the new mark and the seen versions are *staged* by ``poll()`` and committed at the start of the next
``poll()`` (or by ``commit()``), or as soon as every event of the poll is ``acknowledge``d (stored by the worker);
the worker calls ``rollback()`` when storing failed, so the next poll searches from the old mark again. A crash in
between re-delivers those events, which the job store's idempotency key absorbs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rtletter.agent.channels.base import Inbound
from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.fhir.state import StateStore
from rtletter.mappers.codes import COURSE_SUMMARY_CODE, COURSE_SUMMARY_TEMPORARY_CODE, SNOMED

# mCODE STU4 RadiotherapyCourseSummary code; older data carries the temporary USCRS-33529 (any system).
COURSE_CODES = f"{SNOMED}|{COURSE_SUMMARY_CODE},{COURSE_SUMMARY_TEMPORARY_CODE}"
DONE_STATUSES = ("completed", "stopped")
OVERLAP_S = 300.0
PAGE_SIZE = 100
MARK_KEY = "fhir.poll.mark"
START_KEY = "fhir.poll.start"
SEEN_PREFIX = "fhir.seen."
FHIR_JSON = "application/fhir+json"


def _now() -> datetime:
    return datetime.now(UTC)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _version_newer(candidate: str, known: str) -> bool:
    if candidate.isdigit() and known.isdigit():
        return int(candidate) > int(known)
    return candidate != known


@dataclass
class CourseTracker:
    """Decides, per course version, whether it is new (a transition), an update of a finished course, or a repeat.
    Shared by the poller and the subscription receiver, backed by the same state store."""

    state: StateStore
    staged: dict[str, str] = field(default_factory=dict)

    def classify(self, resource: Resource) -> str | None:
        """``completed``/``stopped`` on a transition, ``updated`` for a new version of a finished course, ``None``
        for a version already seen, an older one, or a course that is not finished."""
        status = resource.get("status")
        if status not in DONE_STATUSES:
            return None
        key = f"{SEEN_PREFIX}Procedure/{resource.get('id')}"
        version = str(resource.get("meta", {}).get("versionId", ""))
        known = self.staged.get(key) or self.state.get(key)
        if known is not None:
            known_version, _, known_status = known.partition("|")
            if not _version_newer(version, known_version):
                return None
            event = "updated" if known_status in DONE_STATUSES else status
        else:
            event = status
        self.staged[key] = f"{version}|{status}"
        return event

    def forget(self, resource: Resource) -> None:
        """Undo ``classify`` for a resource whose event could not be stored."""
        self.staged.pop(f"{SEEN_PREFIX}Procedure/{resource.get('id')}", None)

    def commit(self) -> None:
        for key, value in self.staged.items():
            self.state.set(key, value)
        self.staged.clear()


def course_inbound(resource: Resource, event: str, *, source: str, received_at: datetime) -> Inbound:
    rid = str(resource.get("id"))
    version = str(resource.get("meta", {}).get("versionId", ""))
    return Inbound(
        channel="fhir",
        key=f"Procedure/{rid}/_history/{version}",
        payload=json.dumps(resource, separators=(",", ":")).encode("utf-8"),
        content_type=FHIR_JSON,
        received_at=received_at,
        meta={
            "resource": f"Procedure/{rid}",
            "version": version,
            "status": str(resource.get("status")),
            "event": event,
            "source": source,
        },
    )


class CoursePoller:
    """One ``poll()`` = one search (plus its next pages); returns the finished courses not yet reported."""

    def __init__(
        self,
        client: FhirClient,
        state: StateStore,
        *,
        overlap_s: float = OVERLAP_S,
        page_size: int = PAGE_SIZE,
        since: datetime | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.state = state
        self.tracker = CourseTracker(state)
        self.overlap = timedelta(seconds=overlap_s)
        self.page_size = page_size
        self.since = since  # explicit poll start; None: the instant of the first poll (recorded under START_KEY)
        self.clock = clock
        self._staged_mark: str | None = None
        self._unacknowledged: set[str] = set()

    def start(self) -> datetime:
        """The poll start: the explicit one, else the one recorded at the first poll (recorded now if none is)."""
        if self.since is not None:
            if self.state.get(START_KEY) != _instant(self.since):  # recorded too: the nightly backfill reads it
                self.state.set(START_KEY, _instant(self.since))
            return self.since
        recorded = self.state.get(START_KEY)
        if recorded:
            return _parse_instant(recorded)
        first = self.clock()
        self.state.set(START_KEY, _instant(first))
        return _parse_instant(_instant(first))

    def params(self) -> list[tuple[str, str]]:
        params = [
            ("code", COURSE_CODES),
            ("status", ",".join(DONE_STATUSES)),
            ("_sort", "_lastUpdated"),
            ("_count", str(self.page_size)),
        ]
        mark = self.state.get(MARK_KEY)
        start = self.start()
        if mark:
            start = max(start, _parse_instant(mark) - self.overlap)
        params.append(("_lastUpdated", f"ge{_instant(start)}"))
        return params

    def commit(self) -> None:
        """Persist what the last ``poll()`` saw; call once its events are stored (``poll()`` does it itself)."""
        self.tracker.commit()
        if self._staged_mark is not None:
            self.state.set(MARK_KEY, self._staged_mark)
            self._staged_mark = None

    def rollback(self) -> None:
        """Forget what the last ``poll()`` saw (its events could not be stored): the next poll finds them again."""
        self.tracker.staged.clear()
        self._staged_mark = None
        self._unacknowledged.clear()

    def acknowledge(self, key: str) -> None:
        """The event with this key is durably stored; once every event of the last poll is, commit its mark."""
        self._unacknowledged.discard(key)
        if not self._unacknowledged:
            self.commit()

    def poll(self) -> list[Inbound]:
        self.commit()
        received_at = self.clock()
        found: list[Inbound] = []
        newest: str | None = None
        server_time: str | None = None
        for page in self.client.pages("Procedure", self.params()):
            server_time = server_time or page.get("meta", {}).get("lastUpdated")
            for entry in page.get("entry", []):
                resource: dict[str, Any] = entry.get("resource") or {}
                if entry.get("search", {}).get("mode", "match") != "match" or resource.get("resourceType") != (
                    "Procedure"
                ):
                    continue
                updated = resource.get("meta", {}).get("lastUpdated")
                if updated and (newest is None or _parse_instant(updated) > _parse_instant(newest)):
                    newest = updated
                event = self.tracker.classify(resource)
                if event is not None:
                    found.append(course_inbound(resource, event, source="poll", received_at=received_at))
        # Next mark: the server's own clock at search time (no skew with ours); else the newest change seen.
        candidates = [t for t in (server_time, newest, self.state.get(MARK_KEY)) if t]
        if candidates:
            self._staged_mark = _instant(max(_parse_instant(t) for t in candidates))
        self._unacknowledged = {event.key for event in found}
        return found
