"""Review actions against the real sandbox FHIR server (sekmet-fhir): edit + sign, reject, regenerate, a concurrent
EHR change (412, nothing overwritten), a changed course, and EHR worklist mode (sign/reject done in the EHR)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rtletter.agent.channels.fhir import FhirChannel
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.agent.jobs.job import Flag, Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import ReviewRefused, ReviewService, review_store
from rtletter.agent.review.follow import EhrFollower
from rtletter.mappers.fhir.signoff import attachment_text
from rtletter.model import TemplateBackend
from tests.agent.review.review_helpers import DRAFT, User, ehr_signs, posted_job, read
from tests.factories import fhir_case

pytestmark = pytest.mark.integration
EDITED = DRAFT + "\nNebenwirkungen: Radiodermatitis Grad 1.\n"
DOCTOR = User("dr.rev", "Practitioner/dr-rev")


@pytest.fixture
def channel(fhir_server: str, store: JobStore) -> Iterator[FhirChannel]:
    client = FhirClient(fhir_server)
    writeback = FhirWriteBack(client, adapter_version="rt-qlora-3", clock=lambda: datetime.now(UTC))
    yield FhirChannel(client, store.state("fhir"), writeback=writeback)
    client.close()


def test_edit_then_sign_makes_the_document_final_with_the_edited_text(store: JobStore, channel: FhirChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"fhir": channel})
    service.save_edit(job.id, DOCTOR, EDITED)
    assert store.get_job(job.id).status == Status.posted  # an edit changes nothing on the server
    assert read(channel, job.posted_document)["docStatus"] == "preliminary"

    service.sign(job.id, DOCTOR, EDITED)

    document = read(channel, job.posted_document)
    assert document["docStatus"] == "final" and document["authenticator"] == {"reference": "Practitioner/dr-rev"}
    assert attachment_text(document) == EDITED
    assert document["meta"]["versionId"] == "2"
    assert read(channel, job.posted_task)["status"] == "completed"
    provenance = channel.client.search("Provenance", {"target": job.posted_document, "agent": "Practitioner/dr-rev"})
    [entry] = provenance["entry"]
    codes = {a["type"]["coding"][0]["code"] for a in entry["resource"]["agent"]}
    assert codes == {"verifier", "author"}
    assert entry["resource"]["entity"][0]["what"]["reference"] == f"{job.posted_document}/_history/1"

    signed = store.get_job(job.id)
    state = review_store(store).get(job.id)
    assert signed.status == Status.signed and state.outcome == "signed" and state.final_text == EDITED
    assert state.signer == "user:dr.rev" and state.decided_via == "worklist"
    assert state.final_document == f"{job.posted_document}/_history/2"
    assert [e["text"] for e in review_store(store).edits(job.id)] == [EDITED]
    audit = [r for r in store.audit_rows() if r["actor"] == "user:dr.rev"]
    assert [r["what"] for r in audit] == ["edit saved", "signed via worklist"]
    assert all("Quastenberg" not in r["what"] and "Radiodermatitis" not in r["what"] for r in store.audit_rows())

    with pytest.raises(ReviewRefused, match="signed"):
        service.sign(job.id, DOCTOR, EDITED)  # twice: refused, nothing posted again
    assert read(channel, job.posted_document)["meta"]["versionId"] == "2"


def test_a_change_made_in_the_ehr_meanwhile_is_not_overwritten(store: JobStore, channel: FhirChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    document = read(channel, job.posted_document)
    task_id = job.posted_task.split("/")[1]

    # Read by the agent, then the EHR edits the Task before the transaction lands: simulate by signing with the
    # stale versions the sign-off read (the channel's client reads again, so change the server in between).
    class Racing(FhirClient):
        def transaction(self, bundle: dict) -> dict:
            task = channel.client.read("Task", task_id)
            task["note"] = [{"text": "EHR edit"}]
            channel.client.update(task)
            return super().transaction(bundle)

    racing = Racing(channel.client.base_url)
    racing_channel = FhirChannel(racing, store.state("fhir"), writeback=channel.writeback)
    with pytest.raises(ReviewRefused, match="changed in the EHR"):
        ReviewService(store, {"fhir": racing_channel}).sign(job.id, DOCTOR, EDITED)
    racing.close()
    assert read(channel, job.posted_document) == document  # rolled back as a whole
    assert read(channel, job.posted_task)["status"] == "requested"
    assert store.get_job(job.id).status == Status.posted


def test_reject_withdraws_the_document_and_rejects_the_task(store: JobStore, channel: FhirChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"fhir": channel})
    with pytest.raises(ReviewRefused, match="reason"):
        service.reject(job.id, DOCTOR, "  ")
    service.reject(job.id, DOCTOR, "Falsche Seite dokumentiert")
    assert read(channel, job.posted_document)["status"] == "entered-in-error"
    task = read(channel, job.posted_task)
    assert task["status"] == "rejected" and task["statusReason"]["text"] == "Falsche Seite dokumentiert"
    assert store.get_job(job.id).status == Status.rejected
    assert review_store(store).get(job.id).reason == "Falsche Seite dokumentiert"


def test_regenerate_posts_a_new_version_that_replaces_the_old(store: JobStore, channel: FhirChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"fhir": channel}, generator=TemplateBackend())
    service.save_edit(job.id, DOCTOR, EDITED)
    assert service.regenerate(job.id, DOCTOR) == job.id

    again = store.get_job(job.id)
    assert again.status == Status.posted and again.posted_document != job.posted_document
    assert again.draft_meta["draft_version"] == "2" and again.draft_text != DRAFT
    new = read(channel, again.posted_document)
    assert new["relatesTo"] == [{"code": "replaces", "target": {"reference": job.posted_document}}]
    assert new["docStatus"] == "preliminary" and attachment_text(new) == again.draft_text
    assert read(channel, job.posted_document)["status"] == "superseded"
    assert read(channel, job.posted_task)["status"] == "cancelled"
    assert read(channel, again.posted_task)["status"] == "requested"
    state = review_store(store).get(job.id)
    assert state.draft_version == 2 and state.current_text is None  # the edit belonged to the old version
    [old] = review_store(store).drafts(job.id)
    assert old["text"] == DRAFT and old["document"] == job.posted_document

    service.sign(job.id, DOCTOR, again.draft_text)
    assert read(channel, again.posted_document)["docStatus"] == "final"


def test_course_changed_after_drafting_needs_an_acknowledgement(store: JobStore, channel: FhirChannel) -> None:
    case = fhir_case()
    job = posted_job(store, channel, case)
    changed = case.model_copy(update={"course": case.course.model_copy(update={"source": "Procedure/x/_history/9"})})
    inbound_id, _ = store.store_inbound(
        channel="fhir", key="test:update", payload=b"{}", content_type="x", received_at=datetime.now(UTC)
    )
    assert store.claim_inbound("w1") is not None
    assert store.record_cases(inbound_id, "w1", [changed], "fhir")[0].result == "flagged"
    assert Flag.course_updated_after_draft in store.get_job(job.id).flags

    service = ReviewService(store, {"fhir": channel})
    with pytest.raises(ReviewRefused, match="course changed"):
        service.sign(job.id, DOCTOR, DRAFT)
    assert read(channel, job.posted_document)["docStatus"] == "preliminary"
    service.sign(job.id, DOCTOR, DRAFT, acknowledge_course_change=True)
    assert store.get_job(job.id).status == Status.signed


def test_an_account_without_practitioner_cannot_sign_in_the_ehr(store: JobStore, channel: FhirChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    with pytest.raises(ReviewRefused, match="Practitioner"):
        ReviewService(store, {"fhir": channel}).sign(job.id, User("viewer", None), DRAFT)
    assert store.get_job(job.id).status == Status.posted


# --- EHR worklist mode ------------------------------------------------------------------------------------------


def test_the_follower_picks_up_sign_off_and_rejection_done_in_the_ehr(store: JobStore, channel: FhirChannel) -> None:
    signed_job = posted_job(store, channel, fhir_case())
    rejected_job = posted_job(store, channel, fhir_case())
    open_job = posted_job(store, channel, fhir_case())
    follower = EhrFollower(store, channel.client)

    first = follower.poll()  # nothing decided yet; sets the mark
    assert (first.checked, first.changed, first.signed, first.rejected) == (3, 0, 0, 0)  # as the agent posted them

    final_text = DRAFT + "\nIn der EHR ergänzt.\n"
    ehr_signs(channel, signed_job.posted_document, signed_job.posted_task, final_text)
    task = read(channel, rejected_job.posted_task)
    task["status"] = "rejected"
    task["statusReason"] = {"text": "Bitte neu"}
    channel.client.update(task)
    in_progress = read(channel, open_job.posted_task)
    in_progress["status"] = "in-progress"
    channel.client.update(in_progress)

    result = follower.poll()
    assert (result.signed, result.rejected) == (1, 1)
    assert result.changed == 4  # the signed document and its Task, the rejected Task, the Task in progress
    assert store.get_job(signed_job.id).status == Status.signed
    state = review_store(store).get(signed_job.id)
    assert state.final_text == final_text and state.decided_via == "ehr"
    assert state.signer_reference == "Practitioner/ehr-doc"
    assert state.final_document == f"{signed_job.posted_document}/_history/2"
    assert store.get_job(rejected_job.id).status == Status.rejected
    assert review_store(store).get(rejected_job.id).reason == "Bitte neu"
    assert store.get_job(open_job.id).status == Status.posted

    again = follower.poll()  # replays change nothing
    assert (again.checked, again.changed, again.signed, again.rejected) == (1, 0, 0, 0)  # in progress: seen before
    pairs = review_store(store).decided(outcome="signed")
    assert [(p.job_id, p.draft_text, p.final_text) for p in pairs] == [(signed_job.id, DRAFT, final_text)]


def test_a_signature_in_the_ehr_without_authenticator_records_the_signer_as_unknown(
    store: JobStore, channel: FhirChannel
) -> None:
    from rtletter.agent.review.follow import SIGNER_UNKNOWN

    job = posted_job(store, channel, fhir_case())
    task = read(channel, job.posted_task)
    task["owner"] = {"reference": "Practitioner/treating-doc"}  # who should sign, not who did
    channel.client.update(task)
    ehr_signs(channel, job.posted_document, job.posted_task, DRAFT + "Ohne Unterzeichner.\n")
    document = read(channel, job.posted_document)
    del document["authenticator"]
    channel.client.update(document)

    assert EhrFollower(store, channel.client).poll().signed == 1
    state = review_store(store).get(job.id)
    assert state.signer == SIGNER_UNKNOWN == "signed in the EHR, signer unknown"
    assert state.signer_reference is None and state.decided_via == "ehr"


def test_review_cli_follow_sign_reject_stats(store: JobStore, channel: FhirChannel, tmp_path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from rtletter.cli import app

    config = tmp_path / "agent.yaml"
    config.write_text(f"database:\n  url: {store.url}\nchannels:\n  fhir:\n    base_url: {channel.client.base_url}\n")
    in_ehr, by_cli, rejected = (posted_job(store, channel, fhir_case()) for _ in range(3))
    ehr_signs(channel, in_ehr.posted_document, in_ehr.posted_task, DRAFT + "EHR.\n")
    runner = CliRunner()

    follow = runner.invoke(app, ["review", "follow", "-c", str(config)])
    assert follow.exit_code == 0 and "signed 1, rejected 0" in follow.output, follow.output
    text = tmp_path / "signed.txt"
    text.write_text(EDITED, encoding="utf-8")
    args = ["--user", "dr.cli", "--practitioner", "Practitioner/dr-cli", "-c", str(config)]
    signed = runner.invoke(app, ["review", "sign", str(by_cli.id), "--text-file", str(text), *args])
    assert signed.exit_code == 0, signed.output
    assert attachment_text(read(channel, by_cli.posted_document)) == EDITED
    again = runner.invoke(app, ["review", "sign", str(by_cli.id), *args])
    assert again.exit_code == 2 and "signed" in again.output and "Traceback" not in again.output
    rejected_out = runner.invoke(app, ["review", "reject", str(rejected.id), "--reason", "nein", *args])
    assert rejected_out.exit_code == 0 and read(channel, rejected.posted_task)["status"] == "rejected"
    stats = runner.invoke(app, ["review", "stats", "-c", str(config)])
    assert stats.exit_code == 0 and stats.output.splitlines()[-1].startswith("all\t2\t1\t")
    assert any(r["actor"] == "user:dr.cli" for r in store.audit_rows())


def test_run_once_prints_the_followers_counts(store: JobStore, channel: FhirChannel, tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    signed, rejected = posted_job(store, channel, fhir_case()), posted_job(store, channel, fhir_case())
    ehr_signs(channel, signed.posted_document, signed.posted_task, DRAFT + "Im KIS unterschrieben.\n")
    task = read(channel, rejected.posted_task)
    task["status"] = "rejected"
    channel.client.update(task)
    config = tmp_path / "agent.yaml"
    config.write_text(f"database:\n  url: {store.url}\nchannels:\n  fhir:\n    base_url: {channel.client.base_url}\n")
    command = [sys.executable, "-m", "rtletter.cli", "run", "--once", "--config", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("; in the EHR: signed 1, rejected 1"), result.stdout


def test_run_once_picks_up_a_sign_off_done_in_the_ehr(store: JobStore, channel: FhirChannel, tmp_path) -> None:  # noqa: ANN001
    from rtletter.agent.config import load_settings
    from rtletter.agent.service import run

    job = posted_job(store, channel, fhir_case())
    ehr_signs(channel, job.posted_document, job.posted_task, DRAFT + "Im KIS unterschrieben.\n")
    config = tmp_path / "agent.yaml"
    config.write_text(f"database:\n  url: {store.url}\nchannels:\n  fhir:\n    base_url: {channel.client.base_url}\n")
    summary = run(load_settings(config), once=True)  # logs to stderr: a closed log file would outlive the test
    assert store.get_job(job.id).status == Status.signed
    assert summary.followed is not None and (summary.followed.signed, summary.followed.rejected) == (1, 0)
    assert review_store(store).get(job.id).final_text == DRAFT + "Im KIS unterschrieben.\n"
