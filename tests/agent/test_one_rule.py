"""Same message, same outcome on every channel (issue 13): the file drop and the MLLP intake of one HL7 v2 message
end in the same state, and a stored message that makes no job is visible with its reason."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.channels.mllp import MllpChannel
from rtletter.agent.config import MllpChannelSettings, load_settings
from rtletter.agent.hl7v2.listener import HL7_V2
from rtletter.agent.jobs import JobStore, RetryStrategy, Status, Worker
from rtletter.agent.log import scrub
from rtletter.agent.metrics import AgentMetrics
from rtletter.cli import app
from rtletter.model import TemplateBackend

DATA = Path(__file__).resolve().parents[1] / "mappers" / "data"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOT_FINISHED = "course status unknown: only a completed or stopped course is drafted"


def _intake_both(config: Path, tmp_path: Path, message: str) -> tuple[JobStore, list[Status], list[str | None]]:
    """Drop ``message`` into the file inbox and store it as the MLLP listener does; run the intake step of each."""
    settings = load_settings(config)
    assert settings.channels.file is not None
    store = JobStore(settings.database.url, lease_s=30)
    store.create_tables()
    settings.channels.file.inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / message, settings.channels.file.inbox / message)
    file_channel = FileChannel(settings.channels.file, clock=lambda: datetime.now(UTC).replace(year=2100))
    channels = {"file": file_channel, "mllp": MllpChannel(MllpChannelSettings())}
    retry = RetryStrategy(max_attempts=1, base_s=0.0, max_s=0.0)
    worker = Worker(store, channels, TemplateBackend(), retry=retry, metrics=AgentMetrics())
    assert worker.poll_channels() == 1  # the file
    payload = (DATA / message).read_bytes()
    store.store_inbound(channel="mllp", key="MSH-10", payload=payload, content_type=HL7_V2, received_at=NOW)
    assert worker.run_one() and worker.run_one()  # the two intake steps
    rows = store.list_inbound()
    return store, [r.status for r in rows], [r.quarantine_reason for r in rows]


def test_a03_from_radiotherapy_is_drafted_on_every_channel(config_file: Callable[..., Path], tmp_path: Path) -> None:
    store, states, reasons = _intake_both(config_file(), tmp_path, "v2-adt-a03-radiotherapy.hl7")
    assert states == [Status.context_fetched, Status.context_fetched] and reasons == [None, None]
    (job,) = store.list_jobs()  # one course, one job, whichever channel brought it first
    assert job.key == "hl7v2:RT-COURSE-13" and job.status == Status.context_fetched


def test_message_without_a_finished_course_is_ignored_visibly_on_every_channel(
    config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file()
    store, states, reasons = _intake_both(config, tmp_path, "v2-adt-a03-surgery.hl7")
    assert states == [Status.ignored, Status.ignored]
    assert reasons == [NOT_FINISHED, NOT_FINISHED]
    assert store.list_jobs() == []

    listed = CliRunner().invoke(app, ["jobs", "list", "-c", str(config), "--all"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[:2] == ["inbound events ignored, no job: 2", "INBOUND\tSTATE\tATTEMPTS\tCHANNEL\tKEY\tLAST ERROR"]
    rows = [line.split("\t") for line in lines[2:]]
    assert [row[:2] + [row[3], row[5]] for row in rows] == [
        ["1", "ignored", "file", NOT_FINISHED],
        ["2", "ignored", "mllp", NOT_FINISHED],
    ]
    plain = CliRunner().invoke(app, ["jobs", "list", "-c", str(config)])
    assert plain.exit_code == 0 and plain.output.strip() == "no jobs"  # without --all: jobs and waiting events
    only = CliRunner().invoke(app, ["jobs", "list", "-c", str(config), "--status", "ignored"])
    assert only.exit_code == 0 and only.output.strip().splitlines()[2:] == lines[2:]


def test_implausible_course_is_quarantined_with_a_readable_reason(
    config_file: Callable[..., Path], tmp_path: Path
) -> None:
    _store, states, reasons = _intake_both(config_file(), tmp_path, "v2-oru-implausible-dose.hl7")
    assert states == [Status.quarantined, Status.quarantined]
    assert all(r and "OBX: implausible course: volume 1 delivered total dose 250 Gy" in r for r in reasons)


def test_redaction_keeps_field_names_segment_names_and_ports() -> None:
    assert scrub("InvalidValue: MSH-9: MSH-9 is empty") == "InvalidValue: MSH-9: MSH-9 is empty"
    assert scrub("OBX[3]-5: not a number; PV1-44; DG1-3.3; ZRT-3") == "OBX[3]-5: not a number; PV1-44; DG1-3.3; ZRT-3"
    assert scrub("peer 127.0.0.1:52345 closed") == "peer 127.0.0.1:52345 closed"
    assert scrub("peer [::1]:40000") == "peer [::1]:40000"
    # values are still masked: identifiers, dates, long numbers
    assert scrub("MRN0042A born 1961-04-12, case 4711234") == "[id] born [date], case [id]"
    assert scrub("PID-3 MRN-T13 A1B2C3") == "PID-3 [id] [id]"
