from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import structlog

from rtletter.agent.log import REDACTED, configure_logging, get_logger, redact_phi, scrub
from rtletter.mappers.load import load_cases
from tests.factories import make_case, phi_of


def test_redact_phi_masks_keys_containers_dates_and_identifiers() -> None:
    event = redact_phi(
        None,
        "info",
        {
            "event": "case created",
            "patient_name": "Hannelore Quastenberg",
            "birthDate": "1940-01-14",
            "job_id": 3,
            "case": {"x": 1},
            "items": ["a"],
            "error": "Patient.birthDate 14.01.1940 for MRN700037 and 4000771",
            "step": "generate",
        },
    )
    assert event["patient_name"] == REDACTED and event["birthDate"] == REDACTED
    assert event["case"] == REDACTED and event["items"] == REDACTED
    assert event["job_id"] == 3 and event["step"] == "generate" and event["event"] == "case created"
    assert event["error"] == "Patient.birthDate [date] for [id] and [id]"


def test_exceptions_are_logged_by_type_only() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        raise ValueError("Wackerbarth, born 1961-04-12")
    except ValueError:
        get_logger("t").error("boom", exc_info=True)
    structlog.reset_defaults()
    line = json.loads(stream.getvalue())
    assert line["exc_type"] == "ValueError" and "Wackerbarth" not in stream.getvalue()


def test_scrub_keeps_ordinary_words() -> None:
    assert scrub("claim lost at step post for channel file") == "claim lost at step post for channel file"
    assert scrub("seen 2026-03-02") == "seen [date]"


def _phi_strings(cases: list) -> set[str]:
    found = set()
    for case in cases:
        found.update(v for v in phi_of(case) if len(v) >= 4)
        if case.patient.family and len(case.patient.family) >= 4:
            found.add(case.patient.family)
    return found


def test_logs_of_a_full_file_channel_run_hold_no_patient_data(
    tmp_path: Path, config_file: Callable[..., Path], external_dir: Path
) -> None:
    config = config_file(logging={"level": "DEBUG", "json": True})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cases = [make_case(i) for i in range(6)]
    for case in cases:
        (inbox / f"{case.course.id}.case.json").write_text(case.model_dump_json())
    sources = [*sorted((external_dir / "fhir").glob("*.json")), external_dir / "hl7v2" / "msft-ORU-R01-01.hl7"]
    for path in sources:
        shutil.copy(path, inbox)
        cases += load_cases(path.read_bytes())
    # a bad file whose name and content carry PHI: the quarantine log line must not repeat either
    (inbox / "Quastenberg_Hannelore_1940-01-14.json").write_text('{"resourceType": "Patient", "name": "Quastenberg"}')

    result = subprocess.run(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    events = {line["event"] for line in lines}
    assert {"inbound stored", "case created", "draft generated", "draft posted", "inbound quarantined"} <= events
    assert "quarantined 1" in result.stdout

    phi = _phi_strings(cases) | {"Hannelore", "Quastenberg", "1940-01-14"}
    births = {c.patient.birth_date for c in cases if c.patient.birth_date}
    phi |= {d.strftime("%d.%m.%Y") for d in births if isinstance(d, date)}
    assert len(phi) > 20
    text = result.stderr + result.stdout
    leaked = sorted(value for value in phi if value in text)
    assert leaked == []
