"""``rtletter backfill`` over the file channel: finished courses in range, already drafted ones skipped, dry run
stores nothing, unreadable files counted and left for the worker, bad dates exit 2."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from typer.testing import CliRunner, Result

from rtletter.agent.backfill import Backfill
from rtletter.agent.config import Settings, load_settings
from rtletter.agent.jobs.job import Status
from rtletter.agent.service import build_channels, build_worker, open_store
from rtletter.cli import app
from rtletter.mappers.case import CourseStatus
from tests.factories import make_case

# make_case(i) ends on 2026-01-26 + i
SINCE, UNTIL = date(2026, 1, 27), date(2026, 1, 29)


def _drop(settings: Settings, name: str, text: str) -> Path:
    assert settings.channels.file is not None
    path = settings.channels.file.inbox / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["backfill", *args])


def test_file_backfill_counts_skips_drafted_and_enqueues_the_rest(config_file: Callable[..., Path]) -> None:
    settings = load_settings(config_file())
    drafted = make_case(1)
    _drop(settings, "first.case.json", drafted.model_dump_json())
    worker = build_worker(settings)
    worker.poll_channels()
    assert worker.drain().posted == 1  # course 1 has its draft

    _drop(settings, "again.case.json", drafted.model_dump_json() + "\n")  # the same course once more
    _drop(settings, "two.case.json", make_case(2).model_dump_json())
    running = make_case(3, course=make_case(3).course.model_copy(update={"status": CourseStatus.in_progress}))
    assert running.course.status == CourseStatus.in_progress
    _drop(settings, "three.case.json", running.model_dump_json())
    _drop(settings, "four.case.json", make_case(4).model_dump_json())  # ends 2026-01-30: out of range
    _drop(settings, "broken.case.json", '{"case_id": 1}')

    store = worker.store
    channels = build_channels(settings, store)
    dry = Backfill(store, channels).run(SINCE, UNTIL, dry_run=True)
    assert [(s.found, s.drafted, s.queued, s.enqueued, s.unreadable) for s in dry] == [(2, 1, 0, 1, 1)]
    assert len(store.list_inbound()) == 1  # the dry run stored nothing
    assert len(list(settings.channels.file.inbox.iterdir())) == 5  # and took nothing out of the inbox

    real = Backfill(store, channels).run(SINCE, UNTIL)
    assert [(s.found, s.drafted, s.queued, s.enqueued, s.unreadable) for s in real] == [(2, 1, 0, 1, 1)]
    assert not (settings.channels.file.inbox / "two.case.json").exists()  # stored, so out of the inbox
    assert (settings.channels.file.inbox / "four.case.json").exists()  # out of range: left for the next poll
    worker.drain()
    assert store.get_job(make_case(2).case_id).status == Status.posted  # type: ignore[union-attr]
    assert store.get_job(make_case(4).case_id) is None

    again = Backfill(store, channels).run(SINCE, UNTIL)
    assert [(s.found, s.drafted, s.enqueued) for s in again] == [(1, 1, 0)]  # course 2 left the inbox
    reads = [r for r in store.audit_rows() if r["actor"] == "backfill" and r["action"] == "read"]
    assert len(reads) == 3 and all("inbox files read for backfill" in r["what"] for r in reads)
    store.dispose()


def test_cli_backfill_prints_a_summary_and_refuses_bad_dates(config_file: Callable[..., Path]) -> None:
    config = config_file()
    settings = load_settings(config)
    _drop(settings, "two.case.json", make_case(2).model_dump_json())
    dry = _cli("--since", "2026-01-27", "--until", "2026-01-29", "--config", str(config), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.strip().splitlines() == [
        "file: found 1, already drafted 0, already queued 0, would enqueue 1",
        "  would enqueue synthetic:course-0002 (ended 2026-01-28)",
    ]
    done = _cli("--since", "2026-01-27", "--until", "2026-01-29", "--config", str(config))
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        "file: found 1, already drafted 0, already queued 0, enqueued 1",
        "  enqueued synthetic:course-0002 (ended 2026-01-28)",  # which course, for the operator
    ]
    assert "backfill file" in done.stderr  # the progress bar
    store = open_store(settings)
    assert [i.status for i in store.list_inbound()] == [Status.received]  # queued for the worker
    store.dispose()

    for args, message in [
        (["--since", "27.01.2026", "--until", "2026-01-29"], "--since must be a date YYYY-MM-DD"),
        (["--since", "2026-01-29", "--until", "2026-01-27"], "--until is before --since"),
    ]:
        bad = _cli(*args, "--config", str(config))
        assert bad.exit_code == 2
        assert message in bad.stderr and "Traceback" not in bad.stderr
