"""The job store on a real PostgreSQL server: claims with FOR UPDATE SKIP LOCKED, two worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from rtletter.agent.jobs import JobStore, Status
from tests.factories import make_case

pytestmark = pytest.mark.integration

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).parent
JOBS = 50


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh schema on the test server for this module, dropped afterwards; its URL pins the search_path."""
    base = os.environ.get("RTLETTER_TEST_POSTGRES_URL", DEFAULT_URL)
    admin = create_engine(base)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(base).render_as_string(hide_password=True)} "
            f"({type(exc.orig).__name__}). Start it with `make services` (or on Debian: pg_ctlcluster "
            "--skip-systemctl-redirect $(ls /etc/postgresql) main start), or set RTLETTER_TEST_POSTGRES_URL to a "
            "server with trust auth and a database 'test'."
        )
    schema = f"rtletter_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[JobStore]:
    store = JobStore(pg_url, lease_s=60)
    store.create_tables()
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit, jobs, inbound RESTART IDENTITY CASCADE"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS completions (job_key text NOT NULL, worker text NOT NULL)"))
        conn.execute(text("TRUNCATE completions"))
    yield store
    store.dispose()


def test_store_uses_the_per_run_schema(pg_store: JobStore, pg_url: str) -> None:
    with pg_store.engine.connect() as conn:
        assert conn.execute(text("select current_schema()")).scalar() == make_url(pg_url).query["options"].split("=")[1]


def test_claims_skip_rows_locked_by_another_transaction(pg_store: JobStore) -> None:
    now = datetime.now(UTC)
    for i in range(2):
        pg_store.store_inbound(channel="pg", key=f"k{i}", payload=b"{}", content_type="x", received_at=now)
    with pg_store.engine.connect() as other:
        other.begin()
        locked = other.execute(text("SELECT id FROM inbound ORDER BY id LIMIT 1 FOR UPDATE")).scalar()
        claimed = pg_store.claim_inbound("w1")  # does not wait for the lock: takes the next row
        assert claimed is not None and claimed.id != locked
        assert pg_store.claim_inbound("w2") is None  # the locked one is skipped, the other is leased
        other.rollback()
    assert pg_store.claim_inbound("w2") is not None and pg_store.claim_inbound("w3") is None


def test_same_case_twice_is_one_job(pg_store: JobStore) -> None:
    now = datetime.now(UTC)
    for key in ("a", "b"):
        inbound_id, _ = pg_store.store_inbound(channel="pg", key=key, payload=b"{}", content_type="x", received_at=now)
        assert pg_store.claim_inbound("w1") is not None
        pg_store.record_cases(inbound_id, "w1", [make_case(1)], "pg")
    assert len(pg_store.list_jobs()) == 1


def test_two_worker_processes_drain_the_queue_with_no_job_done_twice(
    pg_store: JobStore, pg_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    for i in range(JOBS):
        pg_store.store_inbound(
            channel="pg",
            key=f"event-{i}",
            payload=make_case(i).model_dump_json().encode(),
            content_type="x",
            received_at=now,
        )
    # the same courses again under other event keys: replays that must not become jobs
    for i in range(0, JOBS, 5):
        pg_store.store_inbound(
            channel="pg",
            key=f"replay-{i}",
            payload=make_case(i).model_dump_json().encode(),
            content_type="x",
            received_at=now,
        )
    start = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "pg_worker.py"), pg_url, f"worker-{n}", str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    start.write_text("")
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    with pg_store.engine.connect() as conn:
        rows = conn.execute(text("SELECT job_key, worker FROM completions")).all()
    keys = [r.job_key for r in rows]
    assert len(keys) == JOBS and len(set(keys)) == JOBS  # every course once, none twice
    assert {r.worker for r in rows} == {"worker-1", "worker-2"}  # both took part
    jobs = pg_store.list_jobs(limit=1000)
    assert len(jobs) == JOBS and {j.status for j in jobs} == {Status.posted}
    assert pg_store.counts()["inbound"] == {"context_fetched": JOBS + JOBS // 5}
