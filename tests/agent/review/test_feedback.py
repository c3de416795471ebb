"""Feedback: signed letters -> the model's dataset format (``rtletter dataset export --signed``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review import ReviewService
from rtletter.cli import app
from rtletter.model.dataset import SPLITS, read_jsonl
from tests.agent.review.review_helpers import DRAFT, User, posted_job
from tests.factories import fhir_case

DOCTOR = User("dr.fb", "Practitioner/dr-fb")


@pytest.fixture
def signed_store(tmp_path: Path) -> tuple[JobStore, list[str]]:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.create_tables()
    channel = FileChannel(
        FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0)
    )
    service = ReviewService(store, {"file": channel})
    finals = []
    for i in range(12):
        job = posted_job(store, channel, fhir_case(f"fb{i:02d}"))
        if i % 4 == 3:
            service.reject(job.id, DOCTOR, "nein")
            continue
        final = DRAFT + f"\nKorrektur {i}.\n"
        service.sign(job.id, DOCTOR, final)
        finals.append(final)
    yield store, finals
    store.dispose()


def test_export_writes_signed_letters_in_the_dataset_format(signed_store, tmp_path: Path) -> None:
    store, finals = signed_store
    config = tmp_path / "agent.yaml"
    config.write_text(f"database:\n  url: {store.url.render_as_string(hide_password=False)}\n")
    out = tmp_path / "ds"
    result = CliRunner().invoke(app, ["dataset", "export", "--signed", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for s in SPLITS for line in (out / f"{s}.jsonl").read_text().splitlines()]
    # the signed text, not the draft: the whole letter beside the body the model learns (from "Diagnose:" on)
    assert sorted(r["letter"] for r in records) == sorted(finals)
    assert sorted(r["completion"][0]["content"] for r in records) == sorted(
        f.split("\n\n", 1)[1].strip() for f in finals
    )
    # fact slots by default: the same aligner as for synthetic letters (nothing of this case is in these finals)
    assert all(set(r) == {"id", "patient_id", "case", "prompt", "completion", "letter", "slots", "slot_coverage"}
               for r in records)  # fmt: skip
    free = tmp_path / "free"
    result = CliRunner().invoke(
        app, ["dataset", "export", "--signed", "--out", str(free), "--config", str(config), "--no-fact-slots"]
    )
    assert result.exit_code == 0, result.output
    plain = [json.loads(line) for s in SPLITS for line in (free / f"{s}.jsonl").read_text().splitlines()]
    assert all(set(r) == {"id", "patient_id", "case", "prompt", "completion", "letter"} for r in plain)
    stats = json.loads((out / "stats.json").read_text())
    assert sum(stats["counts"].values()) == len(finals) == 9
    assert any(r["actor"].startswith("cli:") and "exported" in r["what"] for r in store.audit_rows())
    # The model's own reader takes it (same format as `dataset build`).
    assert [r["id"] for r in read_jsonl(out / "train.jsonl")] == [r["id"] for r in records if r["id"] in train_ids(out)]


def train_ids(out: Path) -> set[str]:
    return {json.loads(line)["id"] for line in (out / "train.jsonl").read_text().splitlines()}


def test_export_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["dataset", "export", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "--signed" in missing.output
    config = tmp_path / "agent.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path / 'j.db'}\n")
    bad = runner.invoke(
        app, ["dataset", "export", "--signed", "--out", str(tmp_path / "x"), "-c", str(config), "--since", "gestern"]
    )
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output and "Traceback" not in bad.output
    empty = runner.invoke(app, ["dataset", "export", "--signed", "--out", str(tmp_path / "e"), "-c", str(config)])
    assert empty.exit_code == 0 and "train 0" in empty.output
