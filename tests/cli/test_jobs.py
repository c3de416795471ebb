from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from rtletter.agent.config import load_settings
from rtletter.agent.jobs import JobStore, Status
from rtletter.cli import app
from tests.factories import make_case

runner = CliRunner()


def _seed(config: Path) -> JobStore:
    """Two courses: one dead after a failed generation, one waiting to be generated."""
    store = JobStore(load_settings(config).database.url)
    store.create_tables()
    inbound_id, _ = store.store_inbound(
        channel="file", key="k", payload=b"{}", content_type="x", received_at=store.clock()
    )
    assert store.claim_inbound("w") is not None
    store.record_cases(inbound_id, "w", [make_case(1), make_case(2)], "file")
    job = store.claim_job("w")
    assert job is not None
    store.record_failure("jobs", job.id, "w", error="AgentError: the generator returned an empty draft", retry_at=None)
    return store


def test_jobs_list_show_retry_cancel(config_file: Callable[..., Path]) -> None:
    config = config_file()
    store = _seed(config)
    listed = runner.invoke(app, ["jobs", "list", "-c", str(config), "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    header, line = listed.output.strip().splitlines()
    assert header.split("\t") == ["ID", "STATE", "ATTEMPTS", "FLAGS", "KEY", "LAST ERROR"]
    assert line.split("\t")[:5] == ["1", "dead", "1", "-", "synthetic:course-0001"]
    assert line.endswith("AgentError: the generator returned an empty draft")

    shown = runner.invoke(app, ["jobs", "show", "synthetic:course-0001", "-c", str(config)])
    assert shown.exit_code == 0 and '"status": "dead"' in shown.output
    assert '"flags": []' in shown.output and "frozenset" not in shown.output
    assert store.audit_rows()[-1]["what"] == "shown on the command line"

    retried = runner.invoke(app, ["jobs", "retry", "1", "-c", str(config)])
    assert retried.exit_code == 0 and retried.output.strip() == "job 1: context_fetched"
    cancelled = runner.invoke(app, ["jobs", "cancel", "2", "-c", str(config)])
    assert cancelled.exit_code == 0 and cancelled.output.strip() == "job 2: cancelled"
    assert [j.status for j in store.list_jobs()] == [Status.context_fetched, Status.cancelled]


def test_jobs_errors_exit_2_with_one_line(config_file: Callable[..., Path]) -> None:
    config = config_file()
    _seed(config)
    for args, message in [
        (["jobs", "show", "99"], "error: no job 99"),
        (["jobs", "retry", "nope"], "error: no job nope"),
        (["jobs", "list", "--status", "lost"], "error: unknown status 'lost'"),
    ]:
        result = runner.invoke(app, [*args, "-c", str(config)])
        assert result.exit_code == 2
        assert result.output.strip().startswith(message) and len(result.output.strip().splitlines()) == 1
    runner.invoke(app, ["jobs", "cancel", "2", "-c", str(config)])
    again = runner.invoke(app, ["jobs", "cancel", "2", "-c", str(config)])
    assert again.exit_code == 2 and "job 2 is cancelled" in again.output


def test_jobs_list_says_no_jobs_and_shows_inbound_events_not_yet_jobs(config_file: Callable[..., Path]) -> None:
    config = config_file()
    store = JobStore(load_settings(config).database.url)
    store.create_tables()
    empty = runner.invoke(app, ["jobs", "list", "-c", str(config)])
    assert empty.exit_code == 0 and empty.output.strip() == "no jobs"
    assert runner.invoke(app, ["jobs", "list", "-c", str(config), "--status", "dead"]).output.strip() == (
        "no jobs in state dead"
    )

    for version in (1, 2):  # what a backfill leaves: stored events, no worker run yet
        store.store_inbound(
            channel="fhir",
            key=f"Procedure/c{version}/_history/1",
            payload=b"{}",
            content_type="application/fhir+json",
            received_at=store.clock(),
        )
    listed = runner.invoke(app, ["jobs", "list", "-c", str(config)])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[0] == "inbound events waiting to become jobs: 2"
    assert lines[1].split("\t") == ["INBOUND", "STATE", "ATTEMPTS", "CHANNEL", "KEY", "LAST ERROR"]
    assert [line.split("\t")[:5] for line in lines[2:]] == [
        ["1", "received", "0", "fhir", "Procedure/c1/_history/1"],
        ["2", "received", "0", "fhir", "Procedure/c2/_history/1"],
    ]
    flags = runner.invoke(app, ["jobs", "list", "-c", str(config), "--status", "posted"])
    assert flags.output.strip() == "no jobs in state posted"  # waiting events are not posted jobs
