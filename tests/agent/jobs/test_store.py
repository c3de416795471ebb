from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rtletter.agent.errors import JobStoreError
from rtletter.agent.jobs import Flag, JobStore, LostClaim, Status
from tests.factories import make_case

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _store_event(store: JobStore, key: str = "sha256:abc", payload: bytes = b"{}") -> tuple[int, bool]:
    return store.store_inbound(
        channel="file", key=key, payload=payload, content_type="application/fhir+json", received_at=NOW
    )


def _intake(store: JobStore, cases: list, key: str) -> list:
    inbound_id, _ = _store_event(store, key)
    claimed = store.claim_inbound("w1")
    assert claimed is not None and claimed.id == inbound_id
    return store.record_cases(inbound_id, "w1", cases, "file")


def test_sqlite_store_runs_in_wal_mode_with_full_sync(store: JobStore, tmp_path: Path) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    # and the file is a real SQLite database another process can read
    assert sqlite3.connect(tmp_path / "jobs.db").execute("select count(*) from jobs").fetchone() == (0,)


def test_same_inbound_twice_is_stored_once(store: JobStore) -> None:
    first = _store_event(store, payload=b"raw bytes \x00\xff")
    second = _store_event(store, payload=b"raw bytes \x00\xff")
    assert first == (first[0], True) and second == (first[0], False)
    stored = store.get_inbound(first[0])
    assert stored is not None and stored.payload == b"raw bytes \x00\xff" and stored.status == Status.received


def test_same_case_from_two_events_makes_one_job(store: JobStore) -> None:
    case = make_case(1)
    assert [o.result for o in _intake(store, [case], "a")] == ["created"]
    assert [o.result for o in _intake(store, [case], "b")] == ["duplicate"]
    jobs = store.list_jobs()
    assert len(jobs) == 1 and jobs[0].key == case.case_id and jobs[0].status == Status.context_fetched


def test_changed_course_before_draft_replaces_the_case(store: JobStore) -> None:
    _intake(store, [make_case(1, version=1)], "a")
    outcome = _intake(store, [make_case(1, version=2)], "b")
    assert [o.result for o in outcome] == ["updated"]
    job = store.list_jobs()[0]
    assert job.course_version == "Procedure/course-0001/_history/2" and not job.flags


def test_changed_course_after_draft_is_flagged_not_redrafted(store: JobStore) -> None:
    _intake(store, [make_case(1, version=1)], "a")
    job = store.claim_job("w1")
    assert job is not None
    assert store.transition(job.id, "w1", Status.generated, draft_text="Sehr geehrte ...", draft_meta={"model": "m"})
    outcome = _intake(store, [make_case(1, version=2)], "b")
    assert [o.result for o in outcome] == ["flagged"]
    job = store.get_job(job.id)
    assert job is not None
    assert job.status == Status.generated and job.draft_text == "Sehr geehrte ..."
    assert job.flags == {Flag.course_updated_after_draft}
    assert job.course_version == "Procedure/course-0001/_history/1"
    assert job.course_version_seen == "Procedure/course-0001/_history/2"


def test_claims_are_exclusive_until_the_lease_runs_out(tmp_path: Path) -> None:
    clock = [NOW]
    store = JobStore(f"sqlite:///{tmp_path / 'j.db'}", clock=lambda: clock[0], lease_s=60)
    store.create_tables()
    _intake(store, [make_case(1)], "a")
    job = store.claim_job("w1")
    assert job is not None
    assert store.claim_job("w2") is None
    clock[0] = NOW + timedelta(seconds=61)  # w1 died
    taken = store.claim_job("w2")
    assert taken is not None and taken.id == job.id
    # the old holder's result is dropped
    assert not store.transition(job.id, "w1", Status.generated, draft_text="late", draft_meta={})
    assert store.transition(job.id, "w2", Status.generated, draft_text="text", draft_meta={})


def test_lost_intake_claim_raises_and_keeps_no_jobs(store: JobStore) -> None:
    inbound_id, _ = _store_event(store)
    assert store.claim_inbound("w1") is not None
    with pytest.raises(LostClaim):
        store.record_cases(inbound_id, "someone-else", [make_case(1)], "file")
    assert store.list_jobs() == []


def test_failure_schedules_retry_then_dead_letter(store: JobStore) -> None:
    _intake(store, [make_case(1)], "a")
    job = store.claim_job("w1")
    assert job is not None
    later = datetime.now(UTC) + timedelta(hours=1)
    assert (
        store.record_failure("jobs", job.id, "w1", error="ChannelUnavailable: down", retry_at=later)
        == Status.context_fetched
    )
    assert store.claim_job("w1") is None  # not due yet
    assert store.pending() == (1, later.replace(microsecond=later.microsecond))
    store.retry_job(job.id, "cli:test")
    job = store.claim_job("w1")
    assert job is not None and job.attempts == 0
    assert store.record_failure("jobs", job.id, "w1", error="gave up", retry_at=None) == Status.dead
    dead = store.get_job(job.id)
    assert dead is not None and dead.status == Status.dead and dead.last_error == "gave up" and dead.attempts == 1


def test_retry_of_dead_job_resumes_at_its_step(store: JobStore) -> None:
    _intake(store, [make_case(1)], "a")
    job = store.claim_job("w1")
    assert job is not None and store.transition(job.id, "w1", Status.generated, draft_text="text", draft_meta={})
    job = store.claim_job("w1")
    assert job is not None and store.record_failure("jobs", job.id, "w1", error="x", retry_at=None) == Status.dead
    assert store.retry_job(job.key, "cli:test").status == Status.generated


def test_cancel_refuses_posted_jobs(store: JobStore) -> None:
    _intake(store, [make_case(1), make_case(2)], "a")
    job = store.claim_job("w1")
    assert job is not None and store.transition(job.id, "w1", Status.generated, draft_text="t", draft_meta={})
    job = store.claim_job("w1")
    assert job is not None and job.status == Status.context_fetched  # first in, first out: the other case
    assert store.record_failure("jobs", job.id, "w1", error="x", retry_at=datetime.now(UTC) + timedelta(hours=1))
    job = store.claim_job("w1")
    assert job is not None and job.status == Status.generated
    assert store.transition(job.id, "w1", Status.posted, posted_document="outbox/x.txt", posted_task=None)
    with pytest.raises(JobStoreError, match="posted"):
        store.cancel_job(job.id, "cli:test")
    other = next(j for j in store.list_jobs() if j.id != job.id)
    assert store.cancel_job(other.id, "cli:test").status == Status.cancelled
    with pytest.raises(JobStoreError, match="nothing to retry"):
        store.retry_job(other.id, "cli:test")


def test_every_patient_data_access_is_audited(store: JobStore) -> None:
    _intake(store, [make_case(1)], "a")
    job = store.claim_job("w1")
    assert job is not None and store.transition(job.id, "w1", Status.generated, draft_text="t", draft_meta={})
    rows = store.audit_rows()
    assert [(r["action"], r["entity"]) for r in rows] == [
        ("write", "inbound"),
        ("read", "inbound"),
        ("write", "job"),
        ("read", "inbound"),  # the context fetched for it
        ("read", "job"),
        ("write", "job"),
    ]
    assert all(r["actor"] == "w1" or r["actor"] == "agent" for r in rows)


def test_naive_datetimes_are_refused(store: JobStore) -> None:
    with pytest.raises((ValueError, JobStoreError)):
        store.store_inbound(channel="file", key="k", payload=b"", content_type="x", received_at=datetime(2026, 1, 1))


def test_unreachable_database_is_a_job_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JobStoreError, match="cannot open the job store"):
        JobStore(f"sqlite:///{blocker}/sub/x.db").create_tables()


def test_channel_state_is_durable_and_per_channel(store: JobStore, tmp_path: Path) -> None:
    fhir = store.state("fhir")
    assert fhir.get("poll_mark") is None
    fhir.set("poll_mark", "2026-03-02T08:00:00Z")
    fhir.set("poll_mark", "2026-03-02T09:00:00Z")
    assert store.state("mllp").get("poll_mark") is None
    reopened = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    assert reopened.state("fhir").get("poll_mark") == "2026-03-02T09:00:00Z"
