"""The notification receiver over HTTP (FastAPI TestClient): the secret, R4 rest-hook payloads and pings, Backport
event numbering, gaps and missed heartbeats. Against sekmet-fhir's own notifications: tests/integration."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rtletter.agent.channels.base import Inbound
from rtletter.agent.fhir.state import MemoryState
from rtletter.agent.fhir.subscriptions import NotificationReceiver, build_router, parse_status

SECRET = "s3cret-token"
AUTH = {"Authorization": f"Bearer {SECRET}"}
BASE = "http://ehr.example/fhir"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def course(version: int = 1, status: str = "completed", rid: str = "course-1") -> dict:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "meta": {"versionId": str(version)},
        "status": status,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1217123003"}]},
        "subject": {"reference": "Patient/p-1"},
    }


def notification(kind: str, since_start: int, events: list[tuple[int, str]] = (), resources: list[dict] = ()) -> dict:  # type: ignore[assignment]
    params: list[dict] = [
        {"name": "subscription", "valueReference": {"reference": f"{BASE}/Subscription/sub-1"}},
        {"name": "topic", "valueCanonical": "http://example.org/topic/rt-course-finished"},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(since_start)},
    ]
    for number, focus in events:
        params.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "focus", "valueReference": {"reference": f"{BASE}/{focus}"}},
                ],
            }
        )
    entries = [{"fullUrl": "urn:uuid:0f1e", "resource": {"resourceType": "Parameters", "parameter": params}}]
    entries += [{"fullUrl": f"{BASE}/Procedure/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "history", "entry": entries}


@pytest.fixture
def setup():  # type: ignore[no-untyped-def]
    stored: list[Inbound] = []
    reasons: list[str] = []
    clock = Clock()
    receiver = NotificationReceiver(
        stored.append, MemoryState(), secret=SECRET, catch_up=reasons.append, monotonic=clock
    )
    app = FastAPI()
    app.include_router(build_router(receiver))
    return TestClient(app), receiver, stored, reasons, clock


def test_notifications_without_the_secret_are_refused(setup) -> None:  # type: ignore[no-untyped-def]
    http, _, stored, _, _ = setup
    assert http.put("/fhir/notify/Procedure/course-1", json=course()).status_code == 401
    assert (
        http.put(
            "/fhir/notify/Procedure/course-1", json=course(), headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 401
    )
    assert http.post("/fhir/notify", content=b"").status_code == 401
    assert stored == []
    assert http.put("/fhir/notify/Procedure/course-1", json=course(), headers=AUTH).status_code == 200
    assert len(stored) == 1


def test_rest_hook_payload_is_stored_once_per_finished_version(setup) -> None:  # type: ignore[no-untyped-def]
    http, _, stored, _, _ = setup
    http.put("/fhir/notify/Procedure/course-2", json=course(3, "in-progress", "course-2"), headers=AUTH)
    assert stored == []
    http.put("/fhir/notify/Procedure/course-2", json=course(4, "completed", "course-2"), headers=AUTH)
    http.put("/fhir/notify/Procedure/course-2", json=course(4, "completed", "course-2"), headers=AUTH)  # repeat
    http.put("/fhir/notify/Procedure/course-2", json=course(5, "completed", "course-2"), headers=AUTH)
    assert [(i.key, i.meta["event"]) for i in stored] == [
        ("Procedure/course-2/_history/4", "completed"),
        ("Procedure/course-2/_history/5", "updated"),
    ]
    assert json.loads(stored[0].payload)["meta"]["versionId"] == "4"  # the raw notification body is kept


def test_empty_post_is_a_ping_that_asks_for_a_search(setup) -> None:  # type: ignore[no-untyped-def]
    http, _, stored, reasons, _ = setup
    assert http.post("/fhir/notify", content=b"", headers=AUTH).status_code == 200
    assert stored == [] and reasons == ["rest-hook ping"]


def test_backport_events_are_stored_and_a_gap_in_event_numbers_triggers_a_catch_up(setup) -> None:  # type: ignore[no-untyped-def]
    http, _, stored, reasons, _ = setup
    assert http.post("/fhir/notify", json=notification("handshake", 0), headers=AUTH).status_code == 200
    http.post(
        "/fhir/notify",
        json=notification("event-notification", 1, [(1, "Procedure/a")], [course(2, rid="a")]),
        headers=AUTH,
    )
    assert [i.key for i in stored] == ["Procedure/a/_history/2"] and reasons == []
    # events 2 and 3 were lost on the way
    http.post("/fhir/notify", json=notification("event-notification", 4, [(4, "Procedure/b")]), headers=AUTH)
    assert reasons == ["Subscription/sub-1: events 2..3 missing"]
    assert stored[-1].meta == {"resource": "Procedure/b", "event": "notified", "source": "backport"}  # id-only
    http.post("/fhir/notify", json=notification("heartbeat", 4), headers=AUTH)
    assert len(reasons) == 1  # counter and received agree


def test_a_heartbeat_counting_more_events_than_received_triggers_a_catch_up(setup) -> None:  # type: ignore[no-untyped-def]
    http, _, _, reasons, _ = setup
    http.post("/fhir/notify", json=notification("handshake", 0), headers=AUTH)
    http.post("/fhir/notify", json=notification("heartbeat", 2), headers=AUTH)
    assert reasons == ["Subscription/sub-1: server counts 2 events, received 0"]
    http.post("/fhir/notify", json=notification("heartbeat", 2), headers=AUTH)
    assert len(reasons) == 1


def test_missed_heartbeats_trigger_one_catch_up_per_silence(setup) -> None:  # type: ignore[no-untyped-def]
    http, receiver, _, reasons, clock = setup
    receiver.expect_heartbeat(f"{BASE}/Subscription/sub-1", 10)
    clock.now += 15
    assert receiver.check_heartbeats() == []
    http.post("/fhir/notify", json=notification("heartbeat", 0), headers=AUTH)
    clock.now += 21
    assert receiver.check_heartbeats() == ["Subscription/sub-1"]
    assert receiver.check_heartbeats() == []
    assert reasons == ["Subscription/sub-1: no heartbeat"]


def test_a_notification_that_cannot_be_stored_is_answered_503(setup) -> None:  # type: ignore[no-untyped-def]
    http, receiver, _, _, _ = setup

    def broken(inbound: Inbound) -> None:
        raise OSError("disk full")

    receiver.sink = broken
    assert http.put("/fhir/notify/Procedure/course-9", json=course(rid="course-9"), headers=AUTH).status_code == 503
    # not recorded as seen: the server's retry is stored
    stored: list[Inbound] = []
    receiver.sink = stored.append
    assert http.put("/fhir/notify/Procedure/course-9", json=course(rid="course-9"), headers=AUTH).status_code == 200
    assert len(stored) == 1


def test_parse_status_reads_kebab_and_camel_case() -> None:
    bundle = notification("event-notification", 7, [(7, "Procedure/x")])
    bundle["entry"][0]["resource"]["parameter"][4]["name"] = "eventsSinceSubscriptionStart"
    status = parse_status(bundle)
    assert status is not None
    assert (status["type"], status["events_since_start"], status["events"][0]["number"]) == ("event-notification", 7, 7)
    assert parse_status({"resourceType": "Bundle", "type": "searchset"}) is None


def test_a_body_over_the_limit_is_refused_413_before_it_is_read(setup) -> None:  # type: ignore[no-untyped-def]
    http, receiver, stored, _, _ = setup
    receiver.max_body_bytes = 10_000
    big = json.dumps({**course(), "text": {"div": "x" * 20_000}}).encode()
    assert http.put("/fhir/notify/Procedure/course-1", content=big, headers=AUTH).status_code == 413
    sent: list[int] = []

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds on the bytes read so far
        for start in range(0, len(big), 1000):
            sent.append(start)
            yield big[start : start + 1000]

    assert http.put("/fhir/notify/Procedure/course-1", content=chunked(), headers=AUTH).status_code == 413
    assert stored == []
    small = json.dumps(course()).encode()
    assert http.put("/fhir/notify/Procedure/course-1", content=small, headers=AUTH).status_code == 200
    assert NotificationReceiver(stored.append, MemoryState(), secret=SECRET).max_body_bytes == 4 * 1_048_576


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deeply_nested_json_is_refused_400_not_a_server_error(setup, opener: bytes) -> None:  # type: ignore[no-untyped-def]
    http, _, stored, _, _ = setup
    closer = b"]" if opener == b"[" else b"}"
    deep = b'{"resourceType": "Procedure", "note": ' + opener * 200_000 + b"1" + closer * 200_000 + b"}"
    answer = http.post("/fhir/notify", content=deep, headers=AUTH)
    assert answer.status_code == 400 and stored == []
    fine = b'{"resourceType": "Procedure", "note": ' + opener * 20 + b"1" + closer * 20 + b"}"
    assert http.post("/fhir/notify", content=fine, headers=AUTH).status_code == 200  # 20 levels are usual enough
