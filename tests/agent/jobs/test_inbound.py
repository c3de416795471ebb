"""Group commit in the job store: ``store_inbound_many`` stores like ``store_inbound``, one transaction per batch."""

from __future__ import annotations

from datetime import UTC, datetime

from rtletter.agent.jobs import InboundRecord, JobStore
from rtletter.agent.jobs.job import Status

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(key: str, reason: str | None = None) -> InboundRecord:
    return InboundRecord("mllp", key, f"MSH|{key}".encode(), "x-application/hl7-v2+er7", NOW, {"k": key}, reason)


def test_batch_of_new_events_is_stored_and_audited(store: JobStore) -> None:
    results = store.store_inbound_many([record("a"), record("b"), record("c", reason="MSH-9: not supported")])
    assert [created for _, created in results] == [True, True, True]
    rows = {r.key: r for r in store.list_inbound()}
    assert [rows[k].id for k in "abc"] == [i for i, _ in results]
    assert rows["a"].status == Status.received and rows["a"].payload == b"MSH|a" and rows["a"].meta == {"k": "a"}
    assert rows["c"].status == Status.quarantined and rows["c"].quarantine_reason == "MSH-9: not supported"
    audit = [a["what"] for a in store.audit_rows() if a["entity"] == "inbound"]
    assert audit == ["raw mllp payload stored"] * 2 + ["raw mllp payload stored (quarantined)"]


def test_replays_and_repeats_in_a_batch_read_as_not_created(store: JobStore) -> None:
    ((first_id, _),) = store.store_inbound_many([record("a")])
    results = store.store_inbound_many([record("b"), record("a"), record("b")])
    assert results[1] == (first_id, False)
    assert results[0][1] is True and results[2] == (results[0][0], False)
    assert len(store.list_inbound()) == 2


def test_quarantine_reason_on_single_store(store: JobStore) -> None:
    inbound_id, created = store.store_inbound(
        channel="mllp", key="q", payload=b"x", content_type="t", received_at=NOW, quarantine_reason="MSH: no MSH"
    )
    stored = store.get_inbound(inbound_id)
    assert created and stored is not None and stored.status == Status.quarantined
    assert store.claim_inbound("w") is None  # never handed to a worker


def test_empty_batch(store: JobStore) -> None:
    assert store.store_inbound_many([]) == []
