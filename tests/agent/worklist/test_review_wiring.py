"""The worklist's buttons on the real review actions (``rtletter.agent.review``) with the file channel: edit, sign,
the course-change confirmation, a refusal shown on the page; the HL7 v2 source message behind the facts; no patient
data in the logs of all this."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs import JobStore, Status
from rtletter.agent.log import configure_logging
from rtletter.agent.review import ReviewService, build_review_service
from tests.agent.worklist.worklist_support import csrf_of, login, post_drafts
from tests.factories import make_case, phi_of


def file_review(store: JobStore, folder: Path) -> ReviewService | None:
    settings = FileChannelSettings(
        inbox=folder / "inbox", outbox=folder / "outbox", quarantine=folder / "q", settle_s=0
    )
    return build_review_service(store, None, channels={"file": FileChannel(settings)})


def test_edit_then_sign_on_the_file_channel(
    make_client: Callable[..., TestClient],
    store: JobStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging("INFO")  # to stderr as it is now: an earlier test may have pointed the logger elsewhere
    (case,) = post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(review=file_review(store, tmp_path))
    login(client, "anna")
    page = client.get(f"/worklist/drafts/{job.id}")
    edited = (job.draft_text or "") + "\nNachtrag: Kontrolle in 6 Wochen.\n"
    saved = client.post(f"/worklist/drafts/{job.id}/save", data={"text": edited, "csrf_token": csrf_of(page.text)})
    assert saved.status_code == 303 and saved.headers["location"] == f"/worklist/drafts/{job.id}?done=saved"
    page = client.get(saved.headers["location"])
    assert "Edit saved." in page.text and "Nachtrag: Kontrolle in 6 Wochen." in page.text

    signed = client.post(f"/worklist/drafts/{job.id}/sign", data={"text": edited, "csrf_token": csrf_of(page.text)})
    assert signed.status_code == 303
    after = store.get_job(job.id)
    assert after is not None and after.status == Status.signed
    page = client.get(f"/worklist/drafts/{job.id}")
    assert "Letter" in page.text and "Signed by anna" in page.text and "Sign letter" not in page.text
    assert "readonly" in page.text  # a signed letter is no longer edited here
    again = client.post(f"/worklist/drafts/{job.id}/sign", data={"text": edited, "csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "can no longer be signed" in again.text  # the review's refusal, shown

    logged = capsys.readouterr()
    text = logged.out + logged.err + caplog.text
    assert "worklist action" in text
    for value in phi_of(case):
        assert value not in text, "patient data in the logs"


def test_a_changed_course_needs_the_confirmation_to_sign(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    # The source sends the course again, changed, after the draft exists: the job is flagged, not redrafted.
    inbound_id, _ = store.store_inbound(
        channel="file", key="course-0000-v2", payload=b"{}", content_type="x", received_at=store.clock()
    )
    assert store.claim_inbound("test") is not None
    (outcome,) = store.record_cases(inbound_id, "test", [make_case(0, version=2)], "file")
    assert outcome.result == "flagged"
    client = make_client(review=file_review(store, tmp_path))
    login(client, "anna")
    page = client.get(f"/worklist/drafts/{job.id}")
    assert "course changed after drafting" in page.text and 'name="acknowledge_course_change"' in page.text
    data = {"text": job.draft_text, "csrf_token": csrf_of(page.text)}
    refused = client.post(f"/worklist/drafts/{job.id}/sign", data=data)
    assert refused.status_code == 409 and "The course changed after this draft was written." in refused.text
    assert store.get_job(job.id).status == Status.posted  # type: ignore[union-attr]
    confirmed = client.post(f"/worklist/drafts/{job.id}/sign", data={**data, "acknowledge_course_change": "yes"})
    assert confirmed.status_code == 303
    assert store.get_job(job.id).status == Status.signed  # type: ignore[union-attr]


def test_hl7_facts_link_to_the_stored_message(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    from rtletter.agent.jobs import RetryStrategy, Worker
    from rtletter.agent.metrics import AgentMetrics
    from rtletter.demo.cohort import write_cohort
    from rtletter.model import TemplateBackend

    write_cohort(tmp_path / "cohort", n=1, seed=3, lang="de")
    (message,) = (tmp_path / "cohort").glob("*/course.hl7")
    settings = FileChannelSettings(
        inbox=tmp_path / "inbox", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0
    )
    settings.inbox.mkdir()
    shutil.copy(message, settings.inbox / "course.hl7")
    worker = Worker(store, {"file": FileChannel(settings)}, TemplateBackend(), retry=RetryStrategy(1, 0, 0))
    worker.metrics = AgentMetrics()
    worker.poll_channels()
    assert worker.drain().posted == 1
    (job,) = store.list_jobs(Status.posted)
    client = make_client()
    login(client, "victor")
    page = client.get(f"/worklist/drafts/{job.id}")
    assert f'href="/worklist/drafts/{job.id}/message#seg-PID"' in page.text
    assert f'href="/worklist/drafts/{job.id}/message#seg-OBX"' in page.text
    source = client.get(f"/worklist/drafts/{job.id}/message")
    assert source.status_code == 200 and 'id="seg-PID"' in source.text and 'id="seg-MSH"' in source.text
    segments = [s for s in message.read_bytes().split(b"\r") if s.strip()]
    assert len(re.findall(r"<li[ >]", source.text)) == len(segments)  # one list item per segment
    assert "\ufffd" not in source.text  # decoded in the character set MSH-18 names
    assert f"source message of draft {job.id} viewed" in [r["what"] for r in store.audit_rows()]
