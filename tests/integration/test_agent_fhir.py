"""The agent as a whole against the real sandbox FHIR server: ``rtletter subscribe`` + the long-running agent
receiving the Backport handshake and a notification and posting the draft; duplicate and out-of-order notifications
making one job; the server down for a while with nothing lost or duplicated; a failed store write never advancing
the poll mark."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from rtletter.agent.config import load_settings
from rtletter.agent.errors import JobStoreError
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.poller import MARK_KEY
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.service import build_worker
from rtletter.cli import app
from rtletter.demo.sandbox import free_port

pytestmark = pytest.mark.integration
SECRET = "agent-hook-secret"


TOPIC = "http://rtletter.invalid/fhir/SubscriptionTopic/rt-course-finished-agent"
ST = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"


def course_topic() -> dict:
    """'Course summary became completed/stopped' in the R4 cross-version encoding sekmet-fhir reads (as in
    test_fhir_subscriptions.py)."""
    fhirpath = (
        "(%previous.empty() or %previous.status != %current.status) and %current.status in ('completed' | 'stopped')"
    )
    trigger = [
        {"url": "resource", "valueUri": "http://hl7.org/fhir/StructureDefinition/Procedure"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "supportedInteraction", "valueCode": "update"},
        {"url": "fhirPathCriteria", "valueString": fhirpath},
    ]
    can_filter = [{"url": "resource", "valueUri": "Procedure"}, {"url": "filterParameter", "valueString": "code"}]
    return {
        "resourceType": "Basic",
        "id": "topic-rt-course-finished-agent",
        "modifierExtension": [{"url": f"{ST}.status", "valueCode": "active"}],
        "extension": [
            {"url": f"{ST}.url", "valueUri": TOPIC},
            {"url": f"{ST}.resourceTrigger", "extension": trigger},
            {"url": f"{ST}.canFilterBy", "extension": can_filter},
        ],
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
    }


def course_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].startswith("RadiotherapyCourseSummary"))


def write_config(tmp_path: Path, base_url: str, **fhir: Any) -> Path:
    port = free_port()
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'agent.db'}"},
        # The courses of these tests are loaded before the agent starts: an explicit poll start takes them.
        "channels": {"fhir": {"base_url": base_url, "poll_start": "2000-01-01T00:00:00Z", **fhir}},
        "model": {"backend": "template"},
        "jobs": {"backoff_base_s": 0.2, "backoff_max_s": 0.5, "max_attempts": 50},
        "scheduler": {"poll_interval_s": 3600, "backfill_cron": None},  # drafts here come from notifications
        "web": {"port": port},
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (httpx.HTTPError, JobStoreError):
            pass
        time.sleep(0.1)
    return condition()


def count(client: FhirClient, resource_type: str, **params: str) -> int:
    return len(client.search(resource_type, {"_count": "100", **params}).get("entry", []))


def test_subscribe_then_notifications_become_exactly_one_draft(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    client = FhirClient(sandbox.base_url)
    client.update(course_topic())
    config = write_config(
        tmp_path, sandbox.base_url, subscription_secret=SECRET, subscription_topic=TOPIC, subscription_heartbeat_s=2
    )
    settings = load_settings(config)
    agent = subprocess.Popen(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    web = f"http://127.0.0.1:{settings.web.port}"
    try:
        assert wait_for(lambda: httpx.get(f"{web}/readyz").status_code == 200)
        result = CliRunner().invoke(app, ["subscribe", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("Subscription/") and ": active -> " in result.stdout  # handshake answered

        bundle = example_bundle("xrts-04-breast-3p-3v")
        course = course_of(bundle)
        course["status"] = "in-progress"
        sandbox.load(copy.deepcopy(bundle))
        client.update({**copy.deepcopy(course), "status": "completed"})  # the transition the topic fires on
        assert wait_for(lambda: count(client, "DocumentReference") == 1)

        store = JobStore(settings.database.url)
        assert wait_for(lambda: [j.status for j in store.list_jobs()] == [Status.posted])
        sources = {i.meta.get("source") for i in store.list_inbound()}
        assert sources == {"backport"}

        # The same notification again, and an older version after a newer one, straight to the agent.
        current = client.read("Procedure", course["id"])
        newer = {**copy.deepcopy(current), "meta": {**current["meta"], "versionId": "99"}}
        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/fhir+json"}
        url = f"{web}/fhir/notify/Procedure/{course['id']}"
        for resource in (current, current, newer, current, newer):
            assert httpx.put(url, content=json.dumps(resource), headers=headers).status_code == 200
        assert httpx.put(url, content=json.dumps(current)).status_code == 401
        # The agent runs in its own process (no clock to move): wait until its worker took what was stored.
        assert wait_for(lambda: store.pending()[0] == 0)
        jobs = store.list_jobs()
        assert len(jobs) == 1 and jobs[0].status == Status.posted
        assert count(client, "DocumentReference") == 1 and count(client, "Task") == 1
        keys = sorted(i.key for i in store.list_inbound())
        assert keys == sorted({f"Procedure/{course['id']}/_history/{current['meta']['versionId']}",
                               f"Procedure/{course['id']}/_history/99"})  # fmt: skip
        store.dispose()
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        agent.kill()
        client.close()
    assert agent.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_a_sign_off_in_the_ehr_is_followed_at_once_through_the_task_subscription(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    client = FhirClient(sandbox.base_url)
    config = write_config(tmp_path, sandbox.base_url, subscription_secret=SECRET)  # R4 criteria subscriptions
    data = yaml.safe_load(config.read_text())
    data["scheduler"]["follow_interval_s"] = 3600  # a round at start, then hourly: only a notification is sooner
    config.write_text(yaml.safe_dump(data))
    settings = load_settings(config)
    agent = subprocess.Popen(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    web = f"http://127.0.0.1:{settings.web.port}"
    store = JobStore(settings.database.url)
    try:
        assert wait_for(lambda: httpx.get(f"{web}/readyz").status_code == 200)
        result = CliRunner().invoke(app, ["subscribe", "--config", str(config)])
        assert result.exit_code == 0, result.output
        courses, tasks = result.stdout.strip().splitlines()
        assert ": active -> " in courses and tasks.endswith(f"(review Tasks): active -> {web}/fhir/notify")

        bundle = example_bundle("xrts-02-prostate-2p-1v")
        course = course_of(bundle)
        course["status"] = "in-progress"
        sandbox.load(copy.deepcopy(bundle))
        client.update({**copy.deepcopy(course), "status": "completed"})
        assert wait_for(lambda: [j.status for j in store.list_jobs()] == [Status.posted])
        [job] = store.list_jobs()

        document = client.read("DocumentReference", job.posted_document.split("/")[1])  # signed in the EHR
        client.update({**document, "docStatus": "final", "authenticator": {"reference": "Practitioner/ehr-doc"}})
        task = client.read("Task", job.posted_task.split("/")[1])
        client.update({**task, "status": "completed"})
        assert wait_for(lambda: store.get_job(job.id).status == Status.signed, 15)  # not an hour later

        metrics = httpx.get(f"{web}/metrics").text
        counted = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in metrics.splitlines()
            if line.startswith('rtletter_inbound_total{channel="fhir"')
        }
        assert counted['rtletter_inbound_total{channel="fhir",result="stored"}'] == 1  # the course
        assert counted['rtletter_inbound_total{channel="fhir",result="notified"}'] >= 2  # the Task's changes
        assert httpx.post(f"{web}/fhir/notify", content=b"{}").status_code == 401
        metrics = httpx.get(f"{web}/metrics").text
        assert 'rtletter_inbound_total{channel="fhir",result="refused"} 1.0' in metrics
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    finally:
        agent.kill()
        client.close()
        store.dispose()
    assert agent.returncode == 0, stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "notification refused" and e["status"] == 401 for e in events)
    assert "Traceback" not in stderr


class Clock:
    """The job store's and the worker's time, moved by the test: a retry's backoff passes without sleeping."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_fhir_server_down_for_a_while_loses_and_duplicates_nothing(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    names = ["xrts-01-prostate-1p-1v", "xrts-04-breast-3p-3v", "xrts-06-uterus-1p-1v"]
    for name in names:
        sandbox.load(example_bundle(name))
    settings = load_settings(write_config(tmp_path, sandbox.base_url))
    worker = build_worker(settings)
    store = worker.store
    clock = Clock()
    store.clock = worker.clock = clock
    assert worker.poll_channels() == 3
    while not store.list_jobs(Status.posted):  # steps until the first draft is on the server
        assert worker.run_one()
    assert len(store.list_jobs(Status.posted)) == 1

    sandbox.stop()
    assert worker.poll_channels() == 0  # a poll while down fails quietly (logged, counted)
    result = worker.drain()
    assert result.posted == 0 and result.dead == 0 and result.retrying >= 2
    assert all(j.last_error and "ChannelUnavailable" in j.last_error for j in store.list_jobs(Status.generated))

    sandbox.start()  # same port, same database
    later = example_bundle("xrts-07-uterus-1p-1v")
    sandbox.load(later)
    assert worker.poll_channels() == 1  # the mark did not move while down: the new course is found
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(store.list_jobs(Status.posted)) < 4:
        worker.drain()
        clock.advance(1.0)  # past the longest backoff (jobs.backoff_max_s 0.5): the waiting retries are due
    jobs = store.list_jobs()
    assert len(jobs) == 4 and {j.status for j in jobs} == {Status.posted}
    with FhirClient(sandbox.base_url) as client:
        assert count(client, "DocumentReference") == 4
        assert count(client, "Task") == 4
    worker.channels["fhir"].close()  # type: ignore[attr-defined]
    store.dispose()


class FlakyStore(JobStore):
    """Fault injection: the first ``fail`` raw-event writes fail as a database outage would."""

    fail = 1

    def store_inbound(self, **kwargs: Any) -> tuple[int, bool]:  # type: ignore[override]
        if self.fail > 0:
            self.fail -= 1
            raise JobStoreError("job store sqlite failed: OperationalError")
        return super().store_inbound(**kwargs)


def test_the_poll_mark_moves_only_after_the_events_are_stored(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    sandbox.load(example_bundle("xrts-02-prostate-2p-1v"))
    settings = load_settings(write_config(tmp_path, sandbox.base_url))
    worker = build_worker(settings)
    flaky = FlakyStore(settings.database.url)
    worker.store = flaky
    worker.channels["fhir"].poller.state = flaky.state("fhir")  # type: ignore[attr-defined]
    worker.channels["fhir"].poller.tracker.state = flaky.state("fhir")  # type: ignore[attr-defined]
    with pytest.raises(JobStoreError):
        worker.poll_channels()
    assert flaky.get_state("fhir", MARK_KEY) is None
    time.sleep(1.1)  # a later poll: the FHIR server's own clock (its _lastUpdated marks) has to move on
    assert worker.poll_channels() == 1  # delivered again, now stored
    assert flaky.get_state("fhir", MARK_KEY) is not None  # committed once acknowledged, not at the next poll
    assert worker.poll_channels() == 0
    worker.channels["fhir"].close()  # type: ignore[attr-defined]
    flaky.dispose()


def test_subscribe_says_so_when_the_server_cannot_reach_the_agent(fhir_sandbox_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    with FhirClient(sandbox.base_url) as client:
        client.update(course_topic())
    config = write_config(tmp_path, sandbox.base_url, subscription_secret=SECRET, subscription_topic=TOPIC)
    result = CliRunner().invoke(app, ["subscribe", "--config", str(config), "--wait", "3"])  # no agent is running
    assert result.exit_code == 1
    assert "did not activate the subscription" in result.stderr and "Traceback" not in result.output


def test_subscribe_refuses_an_incomplete_config(tmp_path: Path) -> None:
    without_secret = write_config(tmp_path, "http://127.0.0.1:9/fhir")
    result = CliRunner().invoke(app, ["subscribe", "--config", str(without_secret)])
    assert result.exit_code == 2 and "subscription_secret is required" in result.stderr
    no_fhir = tmp_path / "file-only.yaml"
    no_fhir.write_text(yaml.safe_dump({"channels": {"file": {"inbox": str(tmp_path / "in")}}}))
    result = CliRunner().invoke(app, ["subscribe", "--config", str(no_fhir)])
    assert result.exit_code == 2 and "channels.fhir is not configured" in result.stderr
    down = write_config(tmp_path, "http://127.0.0.1:9/fhir", subscription_secret=SECRET)  # nothing listens there
    result = CliRunner().invoke(app, ["subscribe", "--config", str(down)])
    assert result.exit_code == 2 and "cannot reach the server" in result.stderr
