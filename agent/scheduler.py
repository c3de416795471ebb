"""One APScheduler 3.x ``BackgroundScheduler`` per deployment: the channel poll, the EHR follower (sign-offs and
rejections done in the EHR, on its own interval so that a site on subscriptions with an hourly poll still sees EHR
signatures within ``scheduler.follow_interval_s``, or at once on a Task notification) and the nightly backfill.

The worker drains the queue in the main thread; scheduled jobs only *store* events (poll, backfill), in a small
thread pool, and wake the worker. Each job has ``max_instances=1`` (a slow poll is never run twice at once) and
``coalesce=True`` (runs missed while the process was busy or asleep collapse into one); ``misfire_grace_time`` lets a
run that is late by less than the grace still happen (the nightly backfill after a short outage), beyond it the run
is skipped until the next one.

Several replicas on one PostgreSQL database may each run this: polls and backfills are idempotent (the store's
unique keys absorb the repeats), so no leader election is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from rtletter.agent.config import SchedulerSettings
from rtletter.agent.log import get_logger, route_stdlib_logs

POLL_JOB = "poll"
FOLLOW_JOB = "follow"
BACKFILL_JOB = "backfill"
HEARTBEAT_JOB = "heartbeats"
HEARTBEAT_CHECK_S = 60.0  # how often missed subscription heartbeats are looked for
EXECUTOR_THREADS = 3  # a long backfill must not hold up the polls or the EHR follower

log = get_logger("rtletter.agent.scheduler")


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    """Log a failed run as one PHI-free line (APScheduler would log the traceback, whose messages may quote data)."""
    from rtletter.agent.jobs.worker import describe_error

    def run() -> None:
        try:
            job()
        except Exception as exc:
            log.error("scheduled job failed", job=name, error=describe_error(exc))

    return run


def backfill_window(today: date, days: int) -> tuple[date, date]:
    """The nightly backfill's range: the last ``days`` days up to and including today."""
    return today - timedelta(days=days), today


def build_scheduler(
    settings: SchedulerSettings,
    *,
    poll: Callable[[], object],
    backfill: Callable[[], object] | None = None,
    follow: Callable[[], object] | None = None,
    heartbeats: Callable[[], object] | None = None,
    timezone: object | None = None,
) -> BackgroundScheduler:
    """The scheduler with its jobs added, not started. ``timezone``: for the backfill crontab (default: the
    machine's local zone, as a site writes its crontab)."""
    route_stdlib_logs("apscheduler")  # "skipped: maximum number of running instances" and the like, as JSON
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.misfire_grace_s}
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(EXECUTOR_THREADS)},
        job_defaults=defaults,
        **({"timezone": timezone} if timezone is not None else {}),
    )
    scheduler.add_job(
        _guarded(POLL_JOB, poll),
        IntervalTrigger(seconds=settings.poll_interval_s, timezone=UTC),
        id=POLL_JOB,
        name="poll the channels",
        next_run_time=datetime.now(UTC),  # first poll at start, not one interval later
        # a poll late by more than one interval is replaced by the next one
        misfire_grace_time=max(1, int(settings.poll_interval_s)),
    )
    if follow is not None:
        scheduler.add_job(
            _guarded(FOLLOW_JOB, follow),
            IntervalTrigger(seconds=settings.follow_interval_s, timezone=UTC),
            id=FOLLOW_JOB,
            name="follow sign-offs in the EHR",
            next_run_time=datetime.now(UTC),
            misfire_grace_time=max(1, int(settings.follow_interval_s)),
        )
    if backfill is not None and settings.backfill_cron:
        scheduler.add_job(
            _guarded(BACKFILL_JOB, backfill),
            CronTrigger.from_crontab(settings.backfill_cron, timezone=timezone or scheduler.timezone),
            id=BACKFILL_JOB,
            name="nightly backfill",
        )
    if heartbeats is not None:
        scheduler.add_job(
            _guarded(HEARTBEAT_JOB, heartbeats),
            IntervalTrigger(seconds=HEARTBEAT_CHECK_S, timezone=UTC),
            id=HEARTBEAT_JOB,
            name="check subscription heartbeats",
        )
    return scheduler


def poll_now(scheduler: BackgroundScheduler) -> None:
    """Run the poll job as soon as possible (a subscription catch-up); a poll in flight just runs once more later."""
    scheduler.modify_job(POLL_JOB, next_run_time=datetime.now(UTC))


def follow_now(scheduler: BackgroundScheduler) -> None:
    """Run the EHR follower as soon as possible (a Task notification); without a follow job, nothing."""
    if scheduler.get_job(FOLLOW_JOB) is not None:
        scheduler.modify_job(FOLLOW_JOB, next_run_time=datetime.now(UTC))
