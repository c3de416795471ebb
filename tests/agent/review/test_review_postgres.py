"""The review tables on a real PostgreSQL server: created next to the job tables, and two physicians signing the
same draft at once give exactly one signature."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import ReviewRefused, ReviewService, review_store
from tests.agent.review.review_helpers import DRAFT, User, posted_job
from tests.factories import fhir_case

pytestmark = pytest.mark.integration
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_store() -> Iterator[JobStore]:
    base = os.environ.get("RTLETTER_TEST_POSTGRES_URL", os.environ.get("RTLETTER_TEST_PG_URL", DEFAULT_URL))
    admin = create_engine(base)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({type(exc.orig).__name__}); start it with `make services`")
    schema = f"rtletter_review_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    store = JobStore(url.render_as_string(hide_password=False))
    store.create_tables()
    try:
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_two_physicians_signing_at_once_give_one_signature(pg_store: JobStore, tmp_path: Path) -> None:
    channel = FileChannel(
        FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0)
    )
    job = posted_job(pg_store, channel, fhir_case())
    service = ReviewService(pg_store, {"file": channel})
    service.save_edit(job.id, User("a"), DRAFT + "x")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def sign(name: str) -> None:
        start.wait()
        try:
            service.sign(job.id, User(name), DRAFT + name)
            outcomes.append("signed")
        except ReviewRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=sign, args=(n,)) for n in ("anna", "bert")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "signed"]
    state = review_store(pg_store).get(job.id)
    assert pg_store.get_job(job.id).status == Status.signed
    assert state.final_text == DRAFT + state.signer.removeprefix("user:")
    assert [p.job_id for p in review_store(pg_store).decided()] == [job.id]
