"""Backfill against the real sandbox FHIR server: finished courses ending in the range are found by search, those
with a draft skipped, the rest enqueued and drafted by the worker; the CLI prints the summary."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rtletter.agent.backfill import Backfill, nightly
from rtletter.agent.config import load_settings
from rtletter.agent.jobs.job import Status
from rtletter.agent.service import build_worker
from rtletter.cli import app

pytestmark = pytest.mark.integration
SINCE, UNTIL = date(2021, 9, 1), date(2021, 9, 12)


def course_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].startswith("RadiotherapyCourseSummary"))


def fhir_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "agent.yaml"
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'agent.db'}"},
        "channels": {"fhir": {"base_url": base_url}},
        "model": {"backend": "template"},
        "jobs": {"backoff_base_s": 0.01, "backoff_max_s": 0.05},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_fhir_backfill_enqueues_finished_courses_without_a_draft(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    in_range = example_bundle("xrts-01-prostate-1p-1v")  # ends 2021-09-07
    stopped = example_bundle("xrts-03-prostate-1p-3v")  # ends 2021-09-10
    course_of(stopped)["status"] = "stopped"
    later = example_bundle("xrts-06-uterus-1p-1v")  # ends 2021-09-20: out of range
    running = example_bundle("xrts-07-uterus-1p-1v")  # ends 2021-09-06 but still running
    course_of(running)["status"] = "in-progress"
    for bundle in (in_range, stopped, later, running):
        sandbox.load(copy.deepcopy(bundle))
    config = fhir_config(tmp_path, sandbox.base_url)
    settings = load_settings(config)
    worker = build_worker(settings)
    store = worker.store

    dry = Backfill(store, worker.channels).run(SINCE, UNTIL, dry_run=True)
    assert [(s.channel, s.found, s.drafted, s.queued, s.enqueued) for s in dry] == [("fhir", 2, 0, 0, 2)]
    assert store.list_inbound() == []

    done = Backfill(store, worker.channels).run(SINCE, UNTIL)
    assert [(s.found, s.drafted, s.queued, s.enqueued) for s in done] == [(2, 0, 0, 2)]
    stored = store.list_inbound()
    assert sorted(i.meta["resource"] for i in stored) == sorted(
        f"Procedure/{course_of(b)['id']}" for b in (in_range, stopped)
    )
    assert {i.meta["source"] for i in stored} == {"backfill"}
    assert Backfill(store, worker.channels).run(SINCE, UNTIL)[0].queued == 2  # stored, not drafted yet: no repeat

    assert worker.drain().posted == 2
    jobs = store.list_jobs()
    assert {j.status for j in jobs} == {Status.posted} and len(jobs) == 2
    documents = worker.channels["fhir"].client.search("DocumentReference", {"_count": "50"})  # type: ignore[attr-defined]
    assert documents.get("total", len(documents.get("entry", []))) == 2

    result = CliRunner().invoke(
        app, ["backfill", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "fhir: found 2, already drafted 2, already queued 0, enqueued 0"
    assert len(store.list_inbound()) == 2
    reads = [r for r in store.audit_rows() if r["action"] == "read" and r["entity"] == "channel"]
    assert len(reads) == 4 and all("course summaries searched for backfill" in r["what"] for r in reads)
    worker.channels["fhir"].close()  # type: ignore[attr-defined]
    store.dispose()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in its own process (run configures the process's logging)."""
    command = [sys.executable, "-m", "rtletter.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_go_live_history_only_through_backfill_which_lists_its_courses_and_jobs_list_shows_them(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    in_range = example_bundle("xrts-01-prostate-1p-1v")  # ends 2021-09-07
    stopped = example_bundle("xrts-03-prostate-1p-3v")  # ends 2021-09-10
    course_of(stopped)["status"] = "stopped"
    outside = example_bundle("xrts-06-uterus-1p-1v")  # ends 2021-09-20: history outside the range
    for bundle in (in_range, stopped, outside):
        sandbox.load(copy.deepcopy(bundle))
    config = str(fhir_config(tmp_path, sandbox.base_url))

    backfill = _cli("backfill", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--config", config)
    assert backfill.returncode == 0, backfill.stderr[-2000:]
    lines = backfill.stdout.strip().splitlines()
    assert lines[0] == "fhir: found 2, already drafted 0, already queued 0, enqueued 2"
    assert sorted(lines[1:]) == sorted(
        [
            f"  enqueued Procedure/{course_of(in_range)['id']} (ended 2021-09-07)",
            f"  enqueued Procedure/{course_of(stopped)['id']} (ended 2021-09-10)",
        ]
    )

    waiting = _cli("jobs", "list", "--config", config)  # before any worker ran: the events, not an empty list
    assert waiting.returncode == 0, waiting.stderr[-2000:]
    assert waiting.stdout.splitlines()[0] == "inbound events waiting to become jobs: 2"
    assert {line.split("\t")[4] for line in waiting.stdout.splitlines()[2:]} == {
        f"Procedure/{course_of(b)['id']}/_history/1" for b in (in_range, stopped)
    }

    first = _cli("run", "--once", "--config", config)  # the first start: the poll takes nothing of the history
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("stored 0, posted 2,"), first.stdout

    later = example_bundle("xrts-07-uterus-1p-1v")  # finished after the go-live
    sandbox.load(copy.deepcopy(later))
    second = _cli("run", "--once", "--config", config)
    assert second.stdout.startswith("stored 1, posted 1,"), second.stdout
    listed = _cli("jobs", "list", "--config", config).stdout.splitlines()
    assert listed[0].startswith("ID\tSTATE") and len(listed) == 4
    assert f"fhir:{course_of(outside)['id']}" not in "\n".join(listed)  # never drafted: not asked for

    # The nightly backfill never reaches before the first start either.
    worker = build_worker(load_settings(Path(config)))
    nightly(worker.store, worker.channels, 365 * 20, lambda: False)
    assert not worker.store.has_inbound("fhir", f"Procedure/{course_of(outside)['id']}/_history/1")
    assert len(worker.store.list_inbound()) == 3
    worker.channels["fhir"].close()  # type: ignore[attr-defined]
    worker.store.dispose()
