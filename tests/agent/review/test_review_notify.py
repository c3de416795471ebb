"""EHR worklist mode by subscription: the sandbox server (sekmet-fhir) notifies a real receiver (uvicorn on loopback)
when a review Task is completed in the EHR; the job is signed without waiting for a polling round."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from rtletter.agent.channels.fhir import FhirChannel
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import review_store
from rtletter.agent.review.follow import EhrFollower
from rtletter.agent.review.notify import register_review_subscription, review_router
from rtletter.demo.sandbox import free_port
from tests.agent.review.review_helpers import DRAFT, ehr_signs, posted_job, read
from tests.factories import fhir_case

pytestmark = pytest.mark.integration
SECRET = "review-hook-secret"


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def channel(fhir_server: str, store: JobStore) -> Iterator[FhirChannel]:
    client = FhirClient(fhir_server)
    writeback = FhirWriteBack(client, adapter_version="rt-qlora-3", clock=lambda: datetime.now(UTC))
    yield FhirChannel(client, store.state("fhir"), writeback=writeback)
    for entry in client.search("Subscription", {"_count": "100"}).get("entry", []):
        client.request("DELETE", f"Subscription/{entry['resource']['id']}")
    client.close()


@pytest.fixture
def endpoint(store: JobStore, channel: FhirChannel) -> Iterator[str]:
    app = FastAPI()
    app.include_router(review_router(EhrFollower(store, channel.client), SECRET))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started)
    yield f"http://127.0.0.1:{port}/fhir/notify-review"
    server.should_exit = True
    thread.join(timeout=5)


def test_a_task_completed_in_the_ehr_is_signed_on_notification(
    store: JobStore, channel: FhirChannel, endpoint: str
) -> None:
    job = posted_job(store, channel, fhir_case())
    other = posted_job(store, channel, fhir_case())
    created = register_review_subscription(channel.client, endpoint=endpoint, secret=SECRET)
    assert channel.client.read("Subscription", created["id"])["status"] == "active"

    final = DRAFT + "Im KIS signiert.\n"
    ehr_signs(channel, job.posted_document, job.posted_task, final)
    assert wait_for(lambda: store.get_job(job.id).status == Status.signed)
    state = review_store(store).get(job.id)
    assert state.final_text == final and state.decided_via == "ehr"

    task = read(channel, other.posted_task)
    task["status"] = "rejected"
    task["statusReason"] = {"text": "Bitte neu"}
    channel.client.update(task)
    assert wait_for(lambda: store.get_job(other.id).status == Status.rejected)


def test_notifications_without_the_secret_are_refused(store: JobStore, endpoint: str) -> None:
    task = {"resourceType": "Task", "id": "x", "status": "completed", "intent": "order"}
    assert httpx.post(endpoint, json=task).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.put(f"{endpoint}/Task/x", json=task, headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {SECRET}"}
    assert httpx.put(f"{endpoint}/Task/x", json=task, headers=right).status_code == 200  # not ours: nothing done
    assert httpx.post(endpoint, content=b"{not json", headers=right).status_code == 400
    assert httpx.post(endpoint, headers=right).status_code == 200  # a ping runs one polling round
