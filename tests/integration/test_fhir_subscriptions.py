"""Subscriptions with the real sandbox FHIR server notifying a real receiver (uvicorn on loopback): R4 rest-hook with
payload, and a Backport topic subscription (handshake, heartbeats, full-resource event notifications)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from rtletter.agent.channels.base import Inbound
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.state import MemoryState
from rtletter.agent.fhir.subscriptions import (
    NotificationReceiver,
    build_router,
    register_subscription,
    register_task_subscription,
    subscription_status,
)
from rtletter.demo.sandbox import free_port

pytestmark = pytest.mark.integration
SECRET = "hook-secret-1"
TOPIC = "http://rtletter.invalid/fhir/SubscriptionTopic/rt-course-finished"
ST = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"


def course_topic() -> dict:
    """A SubscriptionTopic for 'course summary became completed/stopped', in the R4 cross-version encoding that
    sekmet-fhir reads (a Basic resource with extension-SubscriptionTopic.* extensions)."""
    fhirpath = (
        "(%previous.empty() or %previous.status != %current.status) and %current.status in ('completed' | 'stopped')"
    )
    trigger = [
        {"url": "resource", "valueUri": "http://hl7.org/fhir/StructureDefinition/Procedure"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "supportedInteraction", "valueCode": "update"},
        {"url": "fhirPathCriteria", "valueString": fhirpath},
    ]
    return {
        "resourceType": "Basic",
        "id": "topic-rt-course-finished",
        "modifierExtension": [{"url": f"{ST}.status", "valueCode": "active"}],
        "extension": [
            {"url": f"{ST}.url", "valueUri": TOPIC},
            {"url": f"{ST}.title", "valueString": "Radiotherapy course finished"},
            {"url": f"{ST}.resourceTrigger", "extension": trigger},
            {
                "url": f"{ST}.canFilterBy",
                "extension": [
                    {"url": "resource", "valueUri": "Procedure"},
                    {"url": "filterParameter", "valueString": "code"},
                ],
            },
        ],
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
    }


def course(rid: str, status: str) -> dict:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1217123003"}]},
        "subject": {"reference": "Patient/p-sub"},
    }


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def receiver_app() -> Iterator[tuple[str, NotificationReceiver, list[Inbound], list[str]]]:
    stored: list[Inbound] = []
    reasons: list[str] = []
    receiver = NotificationReceiver(stored.append, MemoryState(), secret=SECRET, catch_up=reasons.append)
    app = FastAPI()
    app.include_router(build_router(receiver))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started)
    yield f"http://127.0.0.1:{port}/fhir/notify", receiver, stored, reasons
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def client(fhir_server: str) -> Iterator[FhirClient]:
    """A client of the session's server; the subscriptions a test makes are deleted after it."""
    with FhirClient(fhir_server) as fhir:
        yield fhir
        for entry in fhir.search("Subscription", {"_count": "100"}).get("entry", []):
            fhir.request("DELETE", f"Subscription/{entry['resource']['id']}")


def test_r4_rest_hook_notifies_a_completed_course_once(client, receiver_app) -> None:  # type: ignore[no-untyped-def]
    endpoint, _, stored, _ = receiver_app
    created = register_subscription(client, endpoint=endpoint, secret=SECRET)
    assert client.read("Subscription", created["id"])["status"] == "active"
    client.update(course("r4-course", "in-progress"))
    client.update(course("r4-course", "completed"))
    assert wait_for(lambda: any(i.meta["resource"] == "Procedure/r4-course" for i in stored))
    again = copy.deepcopy(client.read("Procedure", "r4-course"))
    again["note"] = [{"text": "Nachtrag"}]
    client.update(again)
    assert wait_for(lambda: len([i for i in stored if i.meta["resource"] == "Procedure/r4-course"]) == 2)
    events = [(i.meta["event"], i.meta["source"]) for i in stored if i.meta["resource"] == "Procedure/r4-course"]
    assert events == [("completed", "rest-hook"), ("updated", "rest-hook")]


def test_backport_handshake_heartbeat_and_event_notification(client, receiver_app) -> None:  # type: ignore[no-untyped-def]
    endpoint, receiver, stored, reasons = receiver_app
    client.update(course_topic())
    created = register_subscription(client, endpoint=endpoint, secret=SECRET, backport_topic=TOPIC, heartbeat_s=1)
    sub_id = created["id"]
    assert wait_for(lambda: client.read("Subscription", sub_id)["status"] == "active")  # handshake accepted
    client.update(course("bp-course", "in-progress"))
    client.update(course("bp-course", "completed"))
    assert wait_for(lambda: any(i.meta["resource"] == "Procedure/bp-course" for i in stored))
    key = f"Subscription/{sub_id}"
    assert wait_for(lambda: key in receiver.last_seen, 5)
    seen = receiver.last_seen[key]
    assert wait_for(lambda: receiver.last_seen[key] > seen, 5)  # a heartbeat came
    status = subscription_status(client, sub_id)
    params = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
    assert params["events-since-subscription-start"]["valueString"] == "1"
    inbound = next(i for i in stored if i.meta["resource"] == "Procedure/bp-course")
    assert (inbound.meta["event"], inbound.meta["source"]) == ("completed", "backport")
    assert not [r for r in reasons if key in r]  # no gap: event 1 of 1 received


def test_a_review_task_change_asks_for_a_follow_round_and_stores_nothing(client, receiver_app) -> None:  # type: ignore[no-untyped-def]
    endpoint, receiver, stored, _ = receiver_app
    rounds: list[int] = []
    receiver.on_task = lambda: rounds.append(1)
    created = register_task_subscription(client, endpoint=endpoint, secret=SECRET)
    assert client.read("Subscription", created["id"])["status"] == "active"
    before = len(stored)
    task = {
        "resourceType": "Task",
        "id": "review-task-1",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "approve"}]},
    }
    client.update(task)
    assert wait_for(lambda: len(rounds) == 1)
    client.update({**task, "status": "completed"})  # signed in the EHR
    assert wait_for(lambda: len(rounds) == 2)
    other = {**task, "id": "other-task", "code": {"coding": [{"system": "http://x.invalid", "code": "fulfill"}]}}
    client.update(other)  # not a review Task: the criteria keep it away
    time.sleep(0.5)
    assert len(rounds) == 2 and len(stored) == before
