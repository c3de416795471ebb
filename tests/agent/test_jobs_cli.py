from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factories import make_case
from typer.testing import CliRunner

from rtletter.agent.cli import app
from rtletter.agent.config import load_settings
from rtletter.agent.jobs import JobStore, Status

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
    (line,) = listed.output.strip().splitlines()
    assert line.split("\t")[:5] == ["1", "dead", "1", "-", "synthetic:course-0001"]
    assert line.endswith("AgentError: the generator returned an empty draft")

    shown = runner.invoke(app, ["jobs", "show", "synthetic:course-0001", "-c", str(config)])
    assert shown.exit_code == 0 and '"status": "dead"' in shown.output
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
