"""Signing a v2 site's draft: MDM with TXA-17 AU over MLLP to a real listener on loopback (the agent's own
MllpListener playing the receiving system, with its own job store), acknowledged AA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtletter.agent.channels.mllp import MllpChannel
from rtletter.agent.config import MllpChannelSettings, MllpOutbound
from rtletter.agent.hl7v2.listener import MllpListener
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import ReviewRefused, ReviewService, review_store
from rtletter.mappers.hl7v2.documents import document_from_v2
from tests.agent.review.review_helpers import DRAFT, User, posted_job
from tests.factories import fhir_case

pytestmark = pytest.mark.integration
DOCTOR = User("dr.v2", "Practitioner/dr-v2")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[MllpListener, JobStore]]:
    their_store = JobStore(f"sqlite:///{tmp_path / 'receiver.db'}")
    their_store.create_tables()
    with MllpListener(their_store, port=0, encoding="utf-8", max_message_bytes=1 << 20) as listener:
        yield listener, their_store
    their_store.dispose()


def test_sign_sends_mdm_au_with_the_signed_text(store: JobStore, receiver: tuple[MllpListener, JobStore]) -> None:
    listener, their_store = receiver
    outbound = MllpOutbound(host="127.0.0.1", port=listener.port, timeout_s=10, signoff_event="T04")
    channel = MllpChannel(MllpChannelSettings(port=1, outbound=outbound), store)
    job = posted_job(store, channel, fhir_case())
    final = DRAFT + "Unterschrieben.\n"
    ReviewService(store, {"mllp": channel}).sign(job.id, DOCTOR, final)

    draft_msg, signed_msg = [document_from_v2(i.payload) for i in their_store.list_inbound()]
    assert draft_msg is not None and signed_msg is not None
    assert (draft_msg.status, signed_msg.status) == ("IP", "AU")
    assert signed_msg.unique_id == draft_msg.unique_id  # the same document, now authenticated
    assert signed_msg.text == "\n".join(line for line in final.split("\n") if line)
    assert b"MDM^T04^MDM_T02" in their_store.list_inbound()[1].payload
    assert store.get_job(job.id).status == Status.signed
    assert review_store(store).get(job.id).final_document.startswith("MDM^T04/")


def test_receiver_down_refuses_and_keeps_the_draft_open(store: JobStore, tmp_path: Path) -> None:
    listener_store = JobStore(f"sqlite:///{tmp_path / 'r.db'}")
    listener_store.create_tables()
    with MllpListener(listener_store, port=0, encoding="utf-8", max_message_bytes=1 << 20) as listener:
        outbound = MllpOutbound(host="127.0.0.1", port=listener.port, timeout_s=2)
        channel = MllpChannel(MllpChannelSettings(port=1, outbound=outbound), store)
        job = posted_job(store, channel, fhir_case())
    with pytest.raises(ReviewRefused, match="did not take it"):
        ReviewService(store, {"mllp": channel}).sign(job.id, DOCTOR, DRAFT)
    assert store.get_job(job.id).status == Status.posted


def test_reject_sends_a_cancel_notification(store: JobStore, receiver: tuple[MllpListener, JobStore]) -> None:
    listener, their_store = receiver
    outbound = MllpOutbound(host="127.0.0.1", port=listener.port, timeout_s=10)
    channel = MllpChannel(MllpChannelSettings(port=1, outbound=outbound), store)
    job = posted_job(store, channel, fhir_case())
    ReviewService(store, {"mllp": channel}).reject(job.id, DOCTOR, "Falscher Zuweiser")

    draft, cancel = their_store.list_inbound()
    assert b"MDM^T11^MDM_T01" in cancel.payload and b"Falscher Zuweiser" not in cancel.payload
    txa = next(line.split(b"|") for line in cancel.payload.split(b"\r") if line.startswith(b"TXA"))
    assert txa[19] == b"CA"
    assert txa[12].split(b"^")[0].decode() == document_from_v2(draft.payload).unique_id  # the draft it withdraws
    assert store.get_job(job.id).status == Status.rejected
    assert review_store(store).get(job.id).reason == "Falscher Zuweiser"
