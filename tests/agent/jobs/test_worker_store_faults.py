"""The job store failing under the worker (fault injection on a real SQLite store): the step's result is not
half-recorded, the row keeps its previous state, and the step runs again once the store is back (lease expiry),
converging on one draft. ``serve`` survives the outage."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs import JobStore, RetryStrategy, Status, Worker
from rtletter.agent.jobs import worker as worker_module
from rtletter.agent.metrics import AgentMetrics
from rtletter.model import TemplateBackend
from tests.factories import make_case

LEASE_S = 0.3


class Clock:
    """The store's and the worker's time, moved by the test (a lease runs out without waiting for it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FailingStore(JobStore):
    """``failing``: the method names that raise (once each) as a lost database connection would."""

    def __init__(self, *args: Any, failing: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = set(failing)

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            self.failing.discard(name)
            raise JobStoreError("job store sqlite failed: OperationalError")

    def record_cases(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_fail("record_cases")
        return super().record_cases(*args, **kwargs)

    def transition(self, row_id: int, worker: str, to: Status, **fields: Any) -> bool:
        self._maybe_fail(f"transition to {to}")
        return super().transition(row_id, worker, to, **fields)

    def claim_job(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_fail("claim_job")
        return super().claim_job(*args, **kwargs)


def _setup(tmp_path: Path, failing: set[str], clock: Clock | None = None) -> tuple[Worker, FileChannel]:
    settings = FileChannelSettings(
        inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0
    )
    channel = FileChannel(settings)
    (settings.inbox / "one.case.json").write_text(make_case(5).model_dump_json())
    timed: dict[str, Any] = {"clock": clock} if clock is not None else {}
    store = FailingStore(f"sqlite:///{tmp_path / 'jobs.db'}", failing=failing, lease_s=LEASE_S, **timed)
    store.create_tables()
    retry = RetryStrategy(max_attempts=3, base_s=0.0, max_s=0.0)
    worker = Worker(store, {"file": channel}, TemplateBackend(), retry=retry, metrics=AgentMetrics(), **timed)
    assert worker.poll_channels() == 1
    return worker, channel


@pytest.mark.parametrize(
    ("failing", "before"),
    [
        ("record_cases", None),
        ("transition to generated", Status.context_fetched),
        ("transition to posted", Status.generated),
    ],
)
def test_a_failed_store_write_leaves_the_previous_state_and_the_step_runs_again(
    tmp_path: Path, failing: str, before: Status | None
) -> None:
    clock = Clock()
    worker, channel = _setup(tmp_path, {failing}, clock)
    store = worker.store
    with pytest.raises(JobStoreError):
        worker.drain()
    jobs = store.list_jobs()
    if before is None:  # the intake: no job, the raw event still waiting
        assert jobs == [] and [i.status for i in store.list_inbound()] == [Status.received]
    else:
        (job,) = jobs
        assert job.status == before and job.attempts == 0 and job.last_error is None
        assert (job.draft_text is None) == (before == Status.context_fetched)
        assert job.posted_document is None
    result = worker.drain()
    assert result.steps == 0  # the row is still leased to the claim whose step could not be recorded
    clock.advance(LEASE_S + 0.1)  # that claim runs out
    result = worker.drain()
    (job,) = store.list_jobs()
    assert job.status == Status.posted and result.posted == 1
    assert len(list(channel.settings.outbox.glob("*.txt"))) == 1  # a repeated post replaced the same draft
    store.dispose()


def test_serve_rides_out_a_store_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STORE_DOWN_SLEEP_S", 0.05)
    worker, channel = _setup(tmp_path, {"claim_job"})
    thread = threading.Thread(target=worker.serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(channel.settings.outbox.glob("*.txt")):
        time.sleep(0.05)
    worker.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert [j.status for j in worker.store.list_jobs()] == [Status.posted]
    worker.store.dispose()
