"""``rtletter backfill``: find finished courses in a date range that have no job yet and enqueue them.

For a first installation, after an outage longer than the poll overlap, or nightly as a safety net (the scheduler
runs it over the last days). Per channel:

- FHIR: ``Procedure?code=<course codes>&status=completed,stopped&date=ge<since>&date=le<until>`` (every page); a course
  counts when its end (``performedPeriod.end``, else its start or ``performedDateTime``) lies in the range.
- file: the complete files in the inbox, mapped; a file counts when one of its courses is finished and ends in range.

A course with a job is "already drafted" (a draft exists) or "already queued" (waiting for a step); the rest are
stored raw as inbound events exactly as the poll would store them (same keys: a later poll of the same version is a
replay) and the worker takes them from there. ``dry_run`` only counts. The search itself is a read of patient data
and is recorded in the audit table (dry run included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from rtletter.agent.channels.base import Acknowledges, Channel, Inbound
from rtletter.agent.fhir.poller import COURSE_CODES, DONE_STATUSES, PAGE_SIZE, START_KEY, course_inbound
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger
from rtletter.mappers.case import Case, CourseStatus
from rtletter.mappers.errors import MappingError

log = get_logger("rtletter.agent.backfill")
UNDRAFTED = frozenset({Status.received, Status.context_fetched})


class Progress(Protocol):
    def start(self, channel: str, total: int | None) -> None: ...

    def advance(self, channel: str) -> None: ...


class _NoProgress:
    def start(self, channel: str, total: int | None) -> None:
        pass

    def advance(self, channel: str) -> None:
        pass


@dataclass
class BackfillSummary:
    channel: str
    found: int = 0  # finished courses ending in the range
    drafted: int = 0  # of those, with a draft already
    queued: int = 0  # of those, already stored and waiting for a step
    enqueued: int = 0  # stored now (dry run: would be)
    unreadable: int = 0  # inbox files that do not map (the worker quarantines them at its next poll)
    courses: list[tuple[str, date | None]] = field(default_factory=list)  # enqueued: (course, its end)

    def lines(self, dry_run: bool = False) -> list[str]:
        """The summary line, then one line per course enqueued (the operator's output, never a log)."""
        verb = "would enqueue" if dry_run else "enqueued"
        ended = [f"  {verb} {course} (ended {end.isoformat() if end else 'unknown'})" for course, end in self.courses]
        return [self.line(dry_run), *ended]

    def line(self, dry_run: bool = False) -> str:
        verb = "would enqueue" if dry_run else "enqueued"
        extra = f", unreadable {self.unreadable}" if self.unreadable else ""
        return (
            f"{self.channel}: found {self.found}, already drafted {self.drafted}, already queued {self.queued}, "
            f"{verb} {self.enqueued}{extra}"
        )


def _in_range(day: date | None, since: date, until: date) -> bool:
    return day is not None and since <= day <= until


def _day(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def course_end(resource: Mapping[str, Any]) -> date | None:
    """The day a course summary ended: ``performedPeriod.end``, else its start, else ``performedDateTime``."""
    period = resource.get("performedPeriod") or {}
    return _day(period.get("end")) or _day(period.get("start")) or _day(resource.get("performedDateTime"))


class Backfill:
    """One backfill run over the configured channels (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        channels: Mapping[str, Channel],
        *,
        actor: str = "backfill",
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.channels = channels
        self.actor = actor
        self.progress = progress or _NoProgress()
        self.should_stop = should_stop

    def run(self, since: date, until: date, *, dry_run: bool = False) -> list[BackfillSummary]:
        if until < since:
            raise ValueError("--until is before --since")
        summaries = []
        for name, channel in self.channels.items():
            if name == "fhir":
                summaries.append(self._fhir(channel, since, until, dry_run))
            elif name == "file":
                summaries.append(self._file(channel, since, until, dry_run))
            if self.should_stop():
                break
        for s in summaries:
            log.info(
                "backfill done",
                channel=s.channel,
                found=s.found,
                drafted=s.drafted,
                queued=s.queued,
                enqueued=s.enqueued,
                unreadable=s.unreadable,
                dry_run=dry_run,
            )
        return summaries

    # --- shared -------------------------------------------------------------------------------------------------

    def _classify(self, case_ids: list[str], summary: BackfillSummary) -> int:
        """Count the courses that have a job; returns how many have none (their event is to be enqueued)."""
        missing = 0
        for case_id in case_ids:
            job = self.store.get_job(case_id)
            if job is None:
                missing += 1
            elif job.status in UNDRAFTED:
                summary.queued += 1
            else:
                summary.drafted += 1
        return missing

    def _enqueue(self, event: Inbound, dry_run: bool) -> bool:
        """Store the event (True), or False when the same event is stored already."""
        if dry_run:
            return not self.store.has_inbound(event.channel, event.key)
        _, created = self.store.store_event(event, actor=self.actor)
        return bool(created)

    # --- FHIR ---------------------------------------------------------------------------------------------------

    def _courses(self, channel: Any, since: date, until: date) -> Iterator[tuple[int | None, dict[str, Any]]]:
        params = [
            ("code", COURSE_CODES),
            ("status", ",".join(DONE_STATUSES)),
            ("date", f"ge{since.isoformat()}"),
            ("date", f"le{until.isoformat()}"),
            ("_count", str(PAGE_SIZE)),
        ]
        for page in channel.client.pages("Procedure", params):
            total = page.get("total")
            for entry in page.get("entry", []):
                resource = entry.get("resource") or {}
                if entry.get("search", {}).get("mode", "match") == "match" and resource.get("resourceType") == (
                    "Procedure"
                ):
                    yield (total if isinstance(total, int) else None), resource

    def _fhir(self, channel: Any, since: date, until: date, dry_run: bool) -> BackfillSummary:
        summary = BackfillSummary("fhir")
        received_at = datetime.now(UTC)
        started = False
        seen = 0
        try:
            for total, resource in self._courses(channel, since, until):
                if not started:
                    self.progress.start("fhir", total)
                    started = True
                seen += 1
                self.progress.advance("fhir")
                if resource.get("status") not in DONE_STATUSES or not _in_range(course_end(resource), since, until):
                    continue
                summary.found += 1
                # The FHIR mapper's idempotency key (rtletter.mappers.fhir.bundle: "fhir:<course summary id>").
                if not self._classify([f"fhir:{resource.get('id')}"], summary):
                    continue
                status = str(resource.get("status"))
                event = course_inbound(resource, status, source="backfill", received_at=received_at)
                if self._enqueue(event, dry_run):
                    summary.enqueued += 1
                    summary.courses.append((f"Procedure/{resource.get('id')}", course_end(resource)))
                else:
                    summary.queued += 1
                if self.should_stop():
                    break
        finally:
            if not started:
                self.progress.start("fhir", 0)
            self.store.audit(
                self.actor,
                "read",
                "channel",
                "fhir",
                f"{seen} course summaries searched for backfill {since}..{until}{' (dry run)' if dry_run else ''}",
            )
        return summary

    # --- file ---------------------------------------------------------------------------------------------------

    def _file(self, channel: Any, since: date, until: date, dry_run: bool) -> BackfillSummary:
        summary = BackfillSummary("file")
        events = channel.poll()
        self.progress.start("file", len(events))
        try:
            for event in events:
                self.progress.advance("file")
                try:
                    cases: list[Case] = channel.fetch_context(event)
                except MappingError:
                    summary.unreadable += 1
                    continue
                finished = [
                    c
                    for c in cases
                    if c.course.status in (CourseStatus.completed, CourseStatus.stopped)
                    and _in_range(c.course.end or c.course.start, since, until)
                ]
                summary.found += len(finished)
                missing = self._classify([c.case_id for c in finished], summary)
                if not missing:
                    continue
                if self._enqueue(event, dry_run):
                    summary.enqueued += missing
                    summary.courses += [
                        (c.case_id, c.course.end or c.course.start)
                        for c in finished
                        if self.store.get_job(c.case_id) is None
                    ]
                else:
                    summary.queued += missing
                if not dry_run and isinstance(channel, Acknowledges):
                    channel.acknowledge(event)  # stored: out of the inbox, as a poll would do
                if self.should_stop():
                    break
        finally:
            self.store.audit(
                self.actor,
                "read",
                "channel",
                "file",
                f"{len(events)} inbox files read for backfill {since}..{until}{' (dry run)' if dry_run else ''}",
            )
        return summary


def nightly(store: JobStore, channels: Mapping[str, Channel], days: int, should_stop: Callable[[], bool]) -> None:
    """The scheduler's backfill: the last ``days`` days up to today (UTC), never before the FHIR poll start (history
    before the agent's first start comes only from a backfill run by hand)."""
    today = datetime.now(UTC).date()
    since = today - timedelta(days=days)
    start = store.get_state("fhir", START_KEY) if "fhir" in channels else None
    if start:
        since = max(since, date.fromisoformat(start[:10]))
    Backfill(store, channels, actor="scheduler:backfill", should_stop=should_stop).run(since, today)
