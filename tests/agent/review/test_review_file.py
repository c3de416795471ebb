"""Review actions on the file channel (outbox files) and the refusals that need no server."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import ReviewRefused, ReviewService, build_review_service, review_store
from rtletter.mappers.fhir.signoff import attachment_text
from rtletter.model import TemplateBackend
from tests.agent.review.review_helpers import DRAFT, User, posted_job
from tests.factories import fhir_case, rectum_case

EDITED = DRAFT + "\nGeändert.\n"
DOCTOR = User("dr.file", "Practitioner/dr-file")


@pytest.fixture
def channel(tmp_path: Path) -> FileChannel:
    return FileChannel(
        FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0)
    )


def test_sign_writes_the_signed_text_and_bundle_beside_the_draft(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"file": channel})
    service.save_edit(job.id, DOCTOR, EDITED)
    assert service.current_text(job.id) == EDITED
    service.sign(job.id, DOCTOR, EDITED)

    base = Path(job.posted_document).with_suffix("")
    assert Path(job.posted_document).read_text(encoding="utf-8") == DRAFT  # the draft file stays as it was
    assert base.with_name(base.name + ".signed.txt").read_text(encoding="utf-8") == EDITED
    bundle = json.loads(base.with_name(base.name + ".signed.bundle.json").read_text(encoding="utf-8"))
    document = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    assert document["request"]["url"].startswith("DocumentReference?identifier=")
    assert document["resource"]["docStatus"] == "final" and attachment_text(document["resource"]) == EDITED
    sidecar = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["status"] == "final" and sidecar["signed_by"] == "dr.file"
    assert store.get_job(job.id).status == Status.signed
    assert review_store(store).get(job.id).final_document == str(base.with_name(base.name + ".signed.txt"))


def test_reject_marks_the_sidecar_and_writes_the_rejection_bundle(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    ReviewService(store, {"file": channel}).reject(job.id, DOCTOR, "Falscher Patient")
    base = Path(job.posted_document).with_suffix("")
    assert json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))["status"] == "entered-in-error"
    bundle = json.loads(base.with_name(base.name + ".rejected.bundle.json").read_text(encoding="utf-8"))
    task = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task")
    assert task["status"] == "rejected" and task["statusReason"]["text"] == "Falscher Patient"
    assert store.get_job(job.id).status == Status.rejected


def test_regenerate_keeps_the_old_version_under_a_versioned_name(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    ReviewService(store, {"file": channel}, generator=TemplateBackend()).regenerate(job.id, DOCTOR)
    base = Path(job.posted_document).with_suffix("")
    assert base.with_name(base.name + ".v1.txt").read_text(encoding="utf-8") == DRAFT
    new = store.get_job(job.id)
    assert Path(new.posted_document).read_text(encoding="utf-8") == new.draft_text != DRAFT
    assert json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))["draft_version"] == 2


class Sampling(TemplateBackend):
    """Fault injection: a model whose greedy draft is the template letter and whose samples are a wrong-dose copy of
    it, then the letter itself."""

    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int] = []

    def sample(self, conversations: list[Any], *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[Any]:
        self.seeds.append(seed)
        (right,) = self.generate(conversations, max_new_tokens=max_new_tokens)
        assert "50,4 Gy" in right.text  # the rectum case's total
        return [[replace(right, text=right.text.replace("50,4 Gy", "50,0 Gy")), right][:n]]


def test_regenerate_samples_and_posts_the_candidate_with_the_fewest_faults(
    store: JobStore, channel: FileChannel
) -> None:
    job = posted_job(store, channel, rectum_case())
    backend = Sampling()
    ReviewService(store, {"file": channel}, generator=backend, redraft=2).regenerate(job.id, DOCTOR)
    new = store.get_job(job.id)
    assert "50,0 Gy" not in (new.draft_text or "") and new.draft_meta["contradicted"] == "0"
    ReviewService(store, {"file": channel}, generator=backend, redraft=1).regenerate(job.id, DOCTOR)
    assert "50,0 Gy" in (store.get_job(job.id).draft_text or "")  # the one sample drawn, however faulted
    assert len(set(backend.seeds)) == 2  # each version draws anew


def test_a_regenerated_body_gets_the_site_letter_around_it(store: JobStore, channel: FileChannel) -> None:
    from rtletter.mappers.scaffold import Site

    job = posted_job(store, channel, fhir_case())
    generator = TemplateBackend(scaffold=True)  # writes the body only, as a model does with the scaffold
    service = ReviewService(store, {"file": channel}, generator=generator, site=Site(institution="Uniklinik Y"))
    service.regenerate(job.id, DOCTOR)
    text = store.get_job(job.id).draft_text or ""
    assert text.startswith("Uniklinik Y\n") and "Betr.:" in text and "Diagnose(n):" in text
    assert text.index("Diagnose(n):") < text.index("Für Rückfragen") < text.index("Mit freundlichen")


def test_refusals_change_nothing(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"file": channel})
    with pytest.raises(ReviewRefused, match="No such draft"):
        service.sign(job.id + 99, DOCTOR, DRAFT)
    with pytest.raises(ReviewRefused, match="empty"):
        service.save_edit(job.id, DOCTOR, "   ")
    with pytest.raises(ReviewRefused, match="No model"):
        service.regenerate(job.id, DOCTOR)
    with pytest.raises(ReviewRefused, match="not configured"):
        ReviewService(store, {}).sign(job.id, DOCTOR, DRAFT)
    assert store.get_job(job.id).status == Status.posted
    service.sign(job.id, DOCTOR, DRAFT)
    for action in (
        lambda: service.save_edit(job.id, DOCTOR, EDITED),
        lambda: service.reject(job.id, DOCTOR, "x"),
        lambda: service.sign(job.id, DOCTOR, DRAFT),
    ):
        with pytest.raises(ReviewRefused, match="signed"):
            action()
    assert review_store(store).edits(job.id) == []  # signed unedited: no edit recorded


def test_each_action_and_each_refusal_is_audited_once_by_the_service(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    service = ReviewService(store, {"file": channel})
    service.save_edit(job.id, DOCTOR, EDITED)
    with pytest.raises(ReviewRefused, match="reason"):
        service.reject(job.id, DOCTOR, " ")
    service.sign(job.id, DOCTOR, EDITED)
    with pytest.raises(ReviewRefused, match="signed"):
        service.sign(job.id, DOCTOR, EDITED)
    audited = [(r["actor"], r["entity_id"], r["what"]) for r in store.audit_rows() if r["actor"].startswith("user:")]
    actor, job_id = "user:dr.file", str(job.id)
    assert audited == [
        (actor, job_id, "edit saved"),
        (actor, job_id, "reject refused"),
        (actor, job_id, "signed via worklist"),
        (actor, job_id, "sign refused"),
    ]


def test_a_job_not_yet_posted_cannot_be_signed(store: JobStore, channel: FileChannel) -> None:
    case = fhir_case()
    inbound_id, _ = store.store_inbound(
        channel="file", key="k", payload=b"{}", content_type="x", received_at=store.clock()
    )
    assert store.claim_inbound("w1") is not None
    [outcome] = store.record_cases(inbound_id, "w1", [case], "file")
    with pytest.raises(ReviewRefused, match="context_fetched"):
        ReviewService(store, {"file": channel}).sign(outcome.job_id, DOCTOR, DRAFT)


def test_the_worklist_hook_builds_the_service_from_settings(store: JobStore, tmp_path: Path) -> None:
    from rtletter.agent.config import load_settings

    config = tmp_path / "agent.yaml"
    out = tmp_path / "out"
    config.write_text(
        f"database:\n  url: {store.url}\nchannels:\n  file:\n    inbox: {tmp_path / 'in'}\n    outbox: {out}\n"
        f"    quarantine: {tmp_path / 'q'}\n    settle_s: 0\n"
    )
    settings = load_settings(config)
    service = build_review_service(store, settings)
    assert service is not None and build_review_service(store, None) is None
    channel = FileChannel(settings.channels.file)
    job = posted_job(store, channel, fhir_case())
    with pytest.raises(ReviewRefused, match="reason"):
        service.reject(job.id, DOCTOR, "")
    assert service.regenerate(job.id, DOCTOR) == job.id  # the template generator of the settings, built lazily
    service.sign(job.id, DOCTOR, "Signiert.")
    assert store.get_job(job.id).status == Status.signed


def test_one_decision_at_a_time_and_a_dead_holders_lease_runs_out(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    reviews = review_store(store)
    assert reviews.claim(job.id, "user:a")
    assert not reviews.claim(job.id, "user:b")
    with pytest.raises(ReviewRefused, match="Someone else"):
        ReviewService(store, {"file": channel}).sign(job.id, User("b"), DRAFT)
    draft_file = Path(job.posted_document)
    assert not draft_file.with_name(draft_file.stem + ".signed.txt").exists()  # nothing written by the refused one
    assert reviews.claim(job.id, "user:a", lease_s=-1)  # a holder that died: its lease is over
    assert reviews.claim(job.id, "user:b")
    reviews.release(job.id, "user:b")
    ReviewService(store, {"file": channel}).sign(job.id, User("c"), DRAFT)
    assert not reviews.claim(job.id, "user:d")  # signed: nothing left to claim


def test_signing_a_contradicted_statement_needs_an_acknowledgement_that_is_audited(
    store: JobStore, channel: FileChannel
) -> None:
    from datetime import date

    from rtletter.mappers.case import TargetVolume

    case = fhir_case()
    case.course.start, case.course.end = date(2026, 3, 2), date(2026, 4, 8)
    case.course.volumes = [
        TargetVolume(name="PTV", total_dose_gy=50.4, dose_per_fraction_gy=1.8, fractions_delivered=28)
    ]
    right = "Radiatio mit 28 × 1,8 Gy bis 50,4 Gy vom 02.03.2026 bis 08.04.2026.\n"
    wrong = right.replace("bis 50,4 Gy", "bis 50,0 Gy")  # a contradicted dose the physician typed or overlooked
    job = posted_job(store, channel, case, text=right)
    service = ReviewService(store, {"file": channel})
    with pytest.raises(ReviewRefused, match="contradicting the source"):
        service.sign(job.id, DOCTOR, wrong)
    assert store.get_job(job.id).status == Status.posted
    assert not [r for r in store.audit_rows() if r["action"] == "acknowledge"]
    service.sign(job.id, DOCTOR, wrong, acknowledge_findings=True)
    assert store.get_job(job.id).status == Status.signed
    (row,) = [r for r in store.audit_rows() if r["action"] == "acknowledge"]
    assert row["actor"] == "user:dr.file" and "1 contradicted fact-check finding" in row["what"]


def test_a_correct_letter_signs_without_acknowledgement(store: JobStore, channel: FileChannel) -> None:
    job = posted_job(store, channel, fhir_case())
    ReviewService(store, {"file": channel}).sign(job.id, DOCTOR, DRAFT)
    assert store.get_job(job.id).status == Status.signed
    assert not [r for r in store.audit_rows() if r["action"] == "acknowledge"]
