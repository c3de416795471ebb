"""The web app on a real SQLite store and real channels: health, readiness, metrics, notification auth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.metrics import AgentMetrics
from rtletter.agent.web.app import create_app, notification_router

SECRET = "s3cret-header-value"


def _course(rid: str = "c1", version: str = "1") -> dict:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "meta": {"versionId": version},
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1217123003"}]},
        "subject": {"reference": "Patient/p1"},
    }


@pytest.fixture
def channel(tmp_path: Path) -> FileChannel:
    return FileChannel(
        FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0)
    )


def test_health_ready_and_metrics(store: JobStore, channel: FileChannel) -> None:
    metrics = AgentMetrics()
    store.store_inbound(
        channel="file", key="k1", payload=b"{}", content_type="application/fhir+json", received_at=store.clock()
    )
    client = TestClient(create_app(store, metrics, channels={"file": channel}))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "channel:file": "ok"}
    body = client.get("/metrics").text
    assert 'rtletter_jobs{state="received",table="inbound"} 1.0' in body
    assert "rtletter_queue_depth 1.0" in body
    for name in ("rtletter_step_seconds", "rtletter_generated_tokens_per_second", "rtletter_dead_letters"):
        assert name in body


def test_not_ready_when_a_channel_folder_goes_or_the_database_is_gone(
    store: JobStore, channel: FileChannel, tmp_path: Path
) -> None:
    client = TestClient(create_app(store, AgentMetrics(), channels={"file": channel}))
    (tmp_path / "q").rmdir()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["channel:file"].startswith("OSError: file channel quarantine")
    assert answer.json()["checks"]["database"] == "ok"

    (tmp_path / "a-folder").mkdir()
    broken = JobStore(f"sqlite:///{tmp_path / 'a-folder'}")  # a folder, not a database file: unreachable
    answer = TestClient(create_app(broken, AgentMetrics())).get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith("JobStoreError")


def test_notifications_need_the_secret_and_are_stored_before_200(store: JobStore) -> None:
    woken = []
    receiver, router = notification_router(store, SECRET, on_stored=lambda: woken.append(1))
    client = TestClient(create_app(store, AgentMetrics(), notifications=router))
    payload = json.dumps(_course()).encode()
    assert client.put("/fhir/notify/Procedure/c1", content=payload).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.put("/fhir/notify/Procedure/c1", content=payload, headers=wrong).status_code == 401
    assert store.list_inbound() == []
    good = {"Authorization": f"Bearer {SECRET}"}
    assert client.put("/fhir/notify/Procedure/c1", content=payload, headers=good).status_code == 200
    assert client.put("/fhir/notify/Procedure/c1", content=payload, headers=good).status_code == 200  # duplicate
    stored = store.list_inbound()
    assert [(s.key, s.status) for s in stored] == [("Procedure/c1/_history/1", Status.received)]
    assert woken == [1]
    assert any(r["actor"] == "web:fhir-notify" and r["action"] == "write" for r in store.audit_rows())


def _metric_values(body: str) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in body.splitlines() if not line.startswith("#")}


def _states(values: dict[str, float], table: str) -> set[str]:
    """The ``state`` labels of ``rtletter_jobs`` for one table."""
    found = [k for k in values if k.startswith("rtletter_jobs{") and f'table="{table}"' in k]
    return {k.split('state="')[1].split('"')[0] for k in found}


def test_every_notification_is_counted_and_refusals_are_logged_without_data(store: JobStore) -> None:
    import io

    from rtletter.agent.log import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    metrics = AgentMetrics()
    tasks: list[int] = []
    _, router = notification_router(store, SECRET, metrics=metrics, on_task=lambda: tasks.append(1))
    client = TestClient(create_app(store, metrics, notifications=router))
    course = {**_course("c9"), "note": [{"text": "Hannelore Quastenberg"}]}
    payload = json.dumps(course).encode()
    good = {"Authorization": f"Bearer {SECRET}"}
    assert client.put("/fhir/notify/Procedure/c9", content=payload).status_code == 401
    assert client.post("/fhir/notify", content=payload, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.put("/fhir/notify/Procedure/c9", content=payload, headers=good).status_code == 200
    assert client.put("/fhir/notify/Procedure/c9", content=payload, headers=good).status_code == 200  # a repeat
    assert client.post("/fhir/notify", content=json.dumps(_backport("heartbeat")), headers=good).status_code == 200
    task = {"resourceType": "Task", "id": "t1", "meta": {"versionId": "2"}, "status": "completed"}
    assert client.put("/fhir/notify/Task/t1", content=json.dumps(task), headers=good).status_code == 200
    assert client.post("/fhir/notify", content=b"[1, 2]", headers=good).status_code == 400

    values = _metric_values(client.get("/metrics").text)
    assert values['rtletter_inbound_total{channel="fhir",result="refused"}'] == 2
    assert values['rtletter_inbound_total{channel="fhir",result="stored"}'] == 1
    assert values['rtletter_inbound_total{channel="fhir",result="notified"}'] == 3  # repeat, heartbeat, Task
    assert values['rtletter_inbound_total{channel="fhir",result="bad_request"}'] == 1
    assert tasks == [1]  # the Task change asked for a follow round; it stored nothing
    assert [i.key for i in store.list_inbound()] == ["Procedure/c9/_history/1"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    refused = [line for line in lines if line["event"] == "notification refused"]
    assert [(r["status"], r["reason"], r["level"]) for r in refused] == [
        (401, "no secret", "warning"),
        (401, "wrong secret", "warning"),
    ]
    assert "Quastenberg" not in stream.getvalue() and "nope" not in stream.getvalue()
    assert "c9" not in stream.getvalue() and SECRET not in stream.getvalue()


def test_extra_routers_are_included(store: JobStore) -> None:
    from fastapi import APIRouter

    extra = APIRouter()

    @extra.get("/worklist/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    client = TestClient(create_app(store, AgentMetrics(), extra_routers=[extra]))
    assert client.get("/worklist/ping").json() == {"pong": "yes"}


def _backport(kind: str, subscription: str = "Subscription/7", since_start: int = 0) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "subscription", "valueReference": {"reference": subscription}},
                        {"name": "type", "valueCode": kind},
                        {"name": "events-since-subscription-start", "valueString": str(since_start)},
                    ],
                }
            }
        ],
    }


def test_missed_heartbeats_of_a_registered_period_ask_for_a_catch_up(store: JobStore) -> None:
    now = [1000.0]
    reasons: list[str] = []
    receiver, router = notification_router(store, SECRET, catch_up=reasons.append, heartbeat_s=2)
    receiver.monotonic = lambda: now[0]
    client = TestClient(create_app(store, AgentMetrics(), notifications=router))
    good = {"Authorization": f"Bearer {SECRET}"}
    assert client.post("/fhir/notify", content=json.dumps(_backport("handshake")), headers=good).status_code == 200
    now[0] += 3  # within two periods
    assert receiver.check_heartbeats() == [] and reasons == []
    assert client.post("/fhir/notify", content=json.dumps(_backport("heartbeat")), headers=good).status_code == 200
    now[0] += 4.5  # more than two periods of silence
    assert receiver.check_heartbeats() == ["Subscription/7"]
    assert reasons == ["Subscription/7: no heartbeat"]
    # a heartbeat counting events we never received is a gap too
    gap = _backport("heartbeat", since_start=2)
    assert client.post("/fhir/notify", content=json.dumps(gap), headers=good).status_code == 200
    assert reasons[-1] == "Subscription/7: server counts 2 events, received 0"


def test_metrics_after_a_drain_cover_states_latency_tokens_and_dead_letters(
    store: JobStore, channel: FileChannel
) -> None:
    from rtletter.agent.jobs import RetryStrategy, Worker
    from rtletter.model import TemplateBackend
    from tests.factories import make_case

    metrics = AgentMetrics()
    worker = Worker(store, {"file": channel}, TemplateBackend(), metrics=metrics, retry=RetryStrategy(1, 0, 0))
    (channel.settings.inbox / "a.case.json").write_text(make_case(1).model_dump_json())
    (channel.settings.inbox / "b.case.json").write_text(make_case(2).model_dump_json())
    worker.poll_channels()
    store.store_inbound(
        channel="nowhere", key="x", payload=b"{}", content_type="application/json", received_at=store.clock()
    )  # an event of a channel that is not configured: dead after one attempt
    worker.drain()
    body = TestClient(create_app(store, metrics)).get("/metrics").text
    values = _metric_values(body)
    assert values['rtletter_jobs{state="posted",table="jobs"}'] == 2
    inbound_states = {
        k.split('state="')[1].split('"')[0] for k in values if k.startswith("rtletter_jobs{") and 'table="inbound"' in k
    }
    assert inbound_states == {"received", "context_fetched", "quarantined", "dead"}  # an event is never "posted"
    job_states = {
        k.split('state="')[1].split('"')[0] for k in values if k.startswith("rtletter_jobs{") and 'table="jobs"' in k
    }
    assert "received" not in job_states and "quarantined" not in job_states
    assert values['rtletter_jobs{state="dead",table="inbound"}'] == 1
    assert values['rtletter_dead_letters_total{table="inbound"}'] == 1
    assert values['rtletter_step_seconds_count{step="post"}'] == 2
    assert values["rtletter_generated_tokens_total"] > 100
    assert values["rtletter_generation_seconds_total"] >= 0
    assert values["rtletter_generated_tokens_per_second"] > 0
    assert values["rtletter_queue_depth"] == 0


def test_an_error_in_a_route_reaches_the_log_as_its_type_only(store: JobStore, capfd: pytest.CaptureFixture) -> None:
    import io

    import httpx
    from fastapi import APIRouter

    from rtletter.agent.log import configure_logging
    from rtletter.agent.web.app import WebServer
    from rtletter.demo.sandbox import free_port

    failing = APIRouter()

    @failing.get("/boom")
    def boom() -> None:
        raise KeyError("Hannelore Quastenberg 1940-01-14")

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    port = free_port()
    server = WebServer(create_app(store, AgentMetrics(), extra_routers=[failing]), "127.0.0.1", port).start()
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/boom").status_code == 500
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        server.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(line["event"] == "library log" and line.get("exc_type") == "KeyError" for line in lines)
    captured = capfd.readouterr()
    for text in (stream.getvalue(), captured.out, captured.err):
        assert "Quastenberg" not in text and "1940-01-14" not in text
