from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rtletter.agent.channels.base import Draft
from rtletter.agent.channels.file import FileChannel, draft_basename
from rtletter.agent.config import FileChannelSettings, load_settings
from rtletter.agent.jobs import JobStore, Status
from rtletter.mappers.errors import MappingError
from tests.factories import make_case

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def channel(tmp_path: Path) -> FileChannel:
    return FileChannel(
        FileChannelSettings(
            inbox=tmp_path / "inbox", outbox=tmp_path / "outbox", quarantine=tmp_path / "quarantine", settle_s=0
        )
    )


def _draft(case_id: str, text: str = "Sehr geehrte Frau Kollegin,\n...") -> Draft:
    return Draft(case_id, text, "de", "rtletter-template", 10, 20, NOW)


def test_poll_skips_partial_and_unsettled_files(tmp_path: Path) -> None:
    settings = FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "o", quarantine=tmp_path / "q", settle_s=60)
    channel = FileChannel(settings)
    (settings.inbox / "a.json.part").write_text("{")
    (settings.inbox / ".hidden.json").write_text("{}")
    (settings.inbox / "fresh.hl7").write_text("MSH|")
    old = settings.inbox / "old.hl7"
    old.write_text("MSH|^~\\&|")
    os.utime(old, (time.time() - 120, time.time() - 120))
    events = channel.poll()
    assert [e.meta["file"] for e in events] == ["old.hl7"]
    assert events[0].content_type == "x-application/hl7-v2+er7" and events[0].payload == b"MSH|^~\\&|"


def test_poll_keeps_files_until_acknowledged(channel: FileChannel) -> None:
    path = channel.settings.inbox / "p.case.json"
    path.write_text(make_case(1).model_dump_json())
    (event,) = channel.poll()
    assert path.exists() and channel.poll()[0].key == event.key  # not acknowledged: seen again
    channel.acknowledge(event)
    assert not path.exists() and channel.poll() == []


def test_acknowledge_leaves_a_file_rewritten_meanwhile(channel: FileChannel) -> None:
    path = channel.settings.inbox / "p.hl7"
    path.write_text("MSH|one")
    (event,) = channel.poll()
    path.write_text("MSH|two")
    channel.acknowledge(event)
    assert path.read_text() == "MSH|two"


def test_fetch_context_maps_fhir_bundles_and_case_json(channel: FileChannel, external_dir: Path) -> None:
    shutil.copy(external_dir / "fhir" / "xrts-05-brainmets-1p-1v-2c.json", channel.settings.inbox)
    (channel.settings.inbox / "c.case.json").write_text(make_case(4).model_dump_json())
    cases = [c for e in channel.poll() for c in channel.fetch_context(e)]
    assert [c.case_id for c in cases] == [
        "synthetic:course-0004",
        "fhir:RadiotherapyCourseSummary-XRTS-05-22B-01-BrainMets-1P-1V",
        "fhir:RadiotherapyCourseSummary-XRTS-05-22B-02-BrainMets-1P-1V",
    ]


def test_fetch_context_errors_name_the_element_not_the_value(channel: FileChannel) -> None:
    (channel.settings.inbox / "bad.case.json").write_text(json.dumps({"case_id": "x", "patient": {"id": 7}}))
    (event,) = channel.poll()
    with pytest.raises(MappingError) as info:
        channel.fetch_context(event)
    assert str(info.value) == "Case.patient.id: Input should be a valid string"


def test_quarantine_writes_file_and_one_line_error(channel: FileChannel) -> None:
    (channel.settings.inbox / "broken.json").write_bytes(b"{not json")
    (event,) = channel.poll()
    target = channel.quarantine(event, "Bundle: not valid JSON\nsecond line")
    assert target == channel.settings.quarantine / "broken.json"
    assert target.read_bytes() == b"{not json"
    assert (channel.settings.quarantine / "broken.json.error.txt").read_text() == "Bundle: not valid JSON\n"


def test_post_draft_twice_converges_on_one_set_of_files(channel: FileChannel) -> None:
    case = make_case(2)
    first = channel.post_draft(case, _draft(case.case_id))
    second = channel.post_draft(case, _draft(case.case_id, "Sehr geehrte Frau Kollegin,\nrevised"))
    assert first.document == second.document
    base = draft_basename(case.case_id)
    names = sorted(p.name for p in channel.settings.outbox.iterdir())
    assert names == [f"{base}.json", f"{base}.txt"]  # a synthetic case has no FHIR Patient: no bundle
    assert Path(second.document).read_text(encoding="utf-8").endswith("revised")
    sidecar = json.loads((channel.settings.outbox / f"{base}.json").read_text())
    assert sidecar["case_id"] == case.case_id and sidecar["status"] == "preliminary"
    assert sidecar["fhir_bundle"].startswith("skipped: ")


def test_post_draft_of_a_fhir_case_writes_the_transaction_bundle(channel: FileChannel, external_dir: Path) -> None:
    shutil.copy(external_dir / "fhir" / "xrts-01-prostate-1p-1v.json", channel.settings.inbox)
    (case,) = channel.fetch_context(channel.poll()[0])
    posted = channel.post_draft(case, _draft(case.case_id))
    bundle = json.loads(Path(posted.extra["bundle"]).read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds == ["Device", "DocumentReference", "Provenance", "Task"]
    assert all("ifNoneExist" in e["request"] for e in bundle["entry"])


# --- end to end through the command line ------------------------------------------------------------------------


def _run_once(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_run_once_end_to_end_drafts_every_course_once_and_quarantines_bad_files(
    tmp_path: Path, config_file: Callable[..., Path], external_dir: Path
) -> None:
    config = config_file()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fhir = sorted((external_dir / "fhir").glob("*.json"))
    for path in fhir:
        shutil.copy(path, inbox)
    shutil.copy(external_dir / "hl7v2" / "msft-ADT-A03-01.hl7", inbox)
    for i in range(5):
        (inbox / f"synthetic-{i}.case.json").write_text(make_case(i).model_dump_json())
    (inbox / "duplicate-of-0.case.json").write_text(make_case(0).model_dump_json(indent=1))  # same case, other bytes
    (inbox / "truncated.json").write_bytes((external_dir / "fhir" / fhir[0].name).read_bytes()[:200])
    (inbox / "notes.docx").write_bytes(b"PK\x03\x04")

    result = _run_once(config, tmp_path)
    assert result.returncode == 0, result.stderr
    # 9 bundles with one course each but XRTS-05 with two; five synthetic. The msft ADT^A03 (surgery, no
    # radiotherapy department or OPS 8-52) has no finished course: ignored, as on every channel.
    courses = 10 + 5
    assert f"posted {courses}, quarantined 2, ignored 1, dead 0, waiting for retry 0" in result.stdout

    letters = sorted((tmp_path / "outbox").glob("*.txt"))
    assert len(letters) == courses
    assert len(list((tmp_path / "outbox").glob("*.bundle.json"))) == 10  # every FHIR course, none for HL7/synthetic
    assert sorted(p.name for p in (tmp_path / "quarantine").iterdir()) == [
        "notes.docx",
        "notes.docx.error.txt",
        "truncated.json",
        "truncated.json.error.txt",
    ]
    assert list(inbox.iterdir()) == []  # every file is in the store now

    store = JobStore(load_settings(config).database.url)
    assert {j.status for j in store.list_jobs()} == {Status.posted} and len(store.list_jobs()) == courses

    # A replay of everything changes nothing: no new job, no new draft.
    for path in fhir:
        shutil.copy(path, inbox)
    again = _run_once(config, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "stored 0, posted 0" in again.stdout
    assert len(list((tmp_path / "outbox").glob("*.txt"))) == courses
