"""The APScheduler set-up: job options, one poll at a time, failures logged without PHI, and the long-running
``rtletter run`` serving health, readiness and metrics while the scheduler polls."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
from apscheduler.triggers.cron import CronTrigger

from rtletter.agent.config import SchedulerSettings, load_settings
from rtletter.agent.log import configure_logging
from rtletter.agent.scheduler import (
    BACKFILL_JOB,
    FOLLOW_JOB,
    HEARTBEAT_JOB,
    POLL_JOB,
    backfill_window,
    build_scheduler,
    follow_now,
)
from rtletter.demo.sandbox import free_port
from tests.factories import make_case


# APScheduler runs its jobs on the wall clock (build_scheduler takes no clock): the tests wait for what the jobs did,
# bounded, instead of sleeping a fixed time and hoping the machine kept up.
def _wait(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_jobs_coalesce_run_one_at_a_time_with_misfire_grace() -> None:
    settings = SchedulerSettings(poll_interval_s=30, backfill_cron="15 3 * * *", misfire_grace_s=1800)
    scheduler = build_scheduler(settings, poll=lambda: None, backfill=lambda: None, heartbeats=lambda: None)
    scheduler.start(paused=True)  # job defaults apply once the scheduler has started
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown(wait=False)
    assert set(jobs) == {POLL_JOB, BACKFILL_JOB, HEARTBEAT_JOB}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
    assert jobs[BACKFILL_JOB].misfire_grace_time == 1800
    assert jobs[POLL_JOB].misfire_grace_time == 30  # a late poll is replaced by the next one
    trigger = jobs[BACKFILL_JOB].trigger
    assert isinstance(trigger, CronTrigger)
    assert {f.name: str(f) for f in trigger.fields}["hour"] == "3"
    assert {f.name: str(f) for f in trigger.fields}["minute"] == "15"

    off = build_scheduler(SchedulerSettings(backfill_cron=None), poll=lambda: None, backfill=lambda: None)
    assert [job.id for job in off.get_jobs()] == [POLL_JOB]
    assert backfill_window(date(2026, 3, 10), 7) == (date(2026, 3, 3), date(2026, 3, 10))


def test_the_ehr_follower_has_its_own_job_and_interval_and_runs_now_on_request() -> None:
    polls: list[float] = []
    follows: list[float] = []
    settings = SchedulerSettings(poll_interval_s=3600, follow_interval_s=0.2, backfill_cron=None)
    scheduler = build_scheduler(
        settings, poll=lambda: polls.append(time.monotonic()), follow=lambda: follows.append(time.monotonic())
    )
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {POLL_JOB, FOLLOW_JOB}
        assert jobs[FOLLOW_JOB].trigger.interval.total_seconds() == 0.2
        assert jobs[POLL_JOB].trigger.interval.total_seconds() == 3600
        assert _wait(lambda: len(follows) >= 3, timeout_s=10)
        assert len(polls) == 1  # the follower does not wait for the hourly poll
    finally:
        scheduler.shutdown(wait=True)

    slow = build_scheduler(
        SchedulerSettings(poll_interval_s=3600, follow_interval_s=3600, backfill_cron=None),
        poll=lambda: None,
        follow=lambda: follows.append(time.monotonic()),
    )
    started = len(follows)
    slow.start()
    try:
        assert _wait(lambda: len(follows) == started + 1, timeout_s=10)  # the round at start
        before = len(follows)
        follow_now(slow)  # a Task notification
        assert _wait(lambda: len(follows) == before + 1, timeout_s=10)
    finally:
        slow.shutdown(wait=True)


def test_a_slow_poll_never_runs_twice_at_once_and_failures_are_logged_without_data() -> None:
    running = 0
    most = 0
    runs = 0
    lock = threading.Lock()

    def slow_poll() -> None:
        nonlocal running, most, runs
        with lock:
            running += 1
            runs += 1
            most = max(most, running)
        time.sleep(0.35)
        with lock:
            running -= 1
        raise KeyError("Hannelore Quastenberg")  # a foreign error quoting data

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    scheduler = build_scheduler(SchedulerSettings(poll_interval_s=0.05, backfill_cron=None), poll=slow_poll)
    scheduler.start()
    # two runs, and a start refused while the first still ran (slow_poll's 0.35 s is the job's own work)
    assert _wait(lambda: runs >= 2 and "maximum number of running instances" in stream.getvalue(), timeout_s=10)
    scheduler.shutdown(wait=True)
    assert runs >= 2 and most == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failures = [line for line in lines if line["event"] == "scheduled job failed"]
    assert failures and failures[0]["job"] == "poll" and failures[0]["error"].startswith("KeyError at ")
    assert "Quastenberg" not in stream.getvalue()
    skipped = [line for line in lines if line["event"] == "library log" and line["source"].startswith("apscheduler")]
    assert skipped and "maximum number of running instances" in skipped[0]["detail"]  # JSON, not a stray text line


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_run_serves_health_ready_and_metrics_while_polling(config_file: Callable[..., Path]) -> None:
    port = free_port()
    config = config_file(scheduler={"poll_interval_s": 0.2, "backfill_cron": None}, web={"port": port})
    settings = load_settings(config)
    assert settings.channels.file is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait(lambda: (r := _get(f"{base}/healthz")) is not None and r.status_code == 200)
        assert _get(f"{base}/readyz").status_code == 200  # type: ignore[union-attr]
        (settings.channels.file.inbox / "one.case.json").write_text(make_case(3).model_dump_json())
        outbox = settings.channels.file.outbox
        assert _wait(lambda: len(list(outbox.glob("*.txt"))) == 1)  # the scheduler's poll picked it up
        metrics = _get(f"{base}/metrics").text  # type: ignore[union-attr]
        assert 'rtletter_jobs{state="posted",table="jobs"} 1.0' in metrics
        assert 'rtletter_step_seconds_count{step="generate"} 1.0' in metrics
        assert "rtletter_queue_depth 0.0" in metrics
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert '"event": "agent stopped"' in stderr
    assert _get(f"{base}/healthz") is None  # the web server went down with it


def test_run_refuses_a_port_in_use_with_one_line(config_file: Callable[..., Path]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = config_file(web={"port": busy.getsockname()[1]})
        result = subprocess.run(
            [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "error: web: cannot listen on 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
