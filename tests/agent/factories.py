"""Synthetic cases for the agent tests: made-up patients whose names, ids and birth dates the log scan looks for;
and the agent YAML the ``config_file`` fixtures write (tests/agent and tests/cli)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from rtletter.mappers.case import (
    Case,
    Coding,
    Course,
    CourseStatus,
    Diagnosis,
    Intent,
    Patient,
    Physician,
    Sex,
    TargetVolume,
    Toxicity,
)

GIVEN = ["Hannelore", "Wolfgang", "Brunhilde", "Theodor", "Gertraud", "Ottokar", "Waltraud", "Kunibert"]
FAMILY = ["Quastenberg", "Zwirnmeister", "Pfefferkorn", "Wackerbarth", "Tintenfass", "Krautwurst"]


def make_case(i: int, *, version: int = 1, **overrides: object) -> Case:
    """Patient ``i`` with one completed breast course (40.05 Gy / 15); ``version`` changes the course's end date."""
    birth = date(1940, 1, 1) + timedelta(days=397 * i + 13)
    start = date(2026, 1, 5) + timedelta(days=i)
    data: dict[str, object] = {
        "case_id": f"synthetic:course-{i:04d}",
        "source_kind": "synthetic",
        "patient": Patient(
            id=f"MRN{700000 + i * 37}",
            given=GIVEN[i % len(GIVEN)],
            family=FAMILY[i % len(FAMILY)] + ("" if i < len(FAMILY) else f"-{i}"),
            birth_date=birth,
            sex=Sex.female,
            address=f"Lindenallee {i + 3}, 69120 Heidelberg",
        ),
        "referring_physician": Physician(prefix="Dr. med.", given="Ilse", family="Rosenkranzer", sex=Sex.female),
        "diagnoses": [
            Diagnosis(code=Coding(system="ICD-10-GM", code="C50.4"), text="Mammakarzinom links", laterality="left")
        ],
        "course": Course(
            id=f"course-{i:04d}",
            status=CourseStatus.completed,
            intent=Intent.curative,
            start=start,
            end=start + timedelta(days=20 + version),
            techniques=["VMAT"],
            volumes=[
                TargetVolume(
                    name="PTV Mamma links", total_dose_gy=40.05, dose_per_fraction_gy=2.67, fractions_delivered=15
                )
            ],
            source=f"Procedure/course-{i:04d}/_history/{version}",
        ),
        "toxicities": [Toxicity(term="Radiation dermatitis", grade=1)],
    }
    data.update(overrides)
    return Case.model_validate(data)


def phi_of(case: Case) -> list[str]:
    """The strings that must never appear in a log line."""
    patient = case.patient
    values = [patient.id, patient.given or "", patient.family or ""]
    if patient.birth_date:
        values += [patient.birth_date.isoformat(), patient.birth_date.strftime("%d.%m.%Y")]
    return [v for v in values if v]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_agent_config(folder: Path, **sections: Any) -> Path:
    """Write ``folder/agent.yaml`` using folders under ``folder``; keyword sections override the defaults."""
    data = {
        "database": {"url": f"sqlite:///{folder / 'var' / 'rtletter.db'}"},
        "channels": {
            "file": {
                "inbox": str(folder / "inbox"),
                "outbox": str(folder / "outbox"),
                "quarantine": str(folder / "quarantine"),
                "settle_s": 0,
            }
        },
        "model": {"backend": "template"},
        "jobs": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "lease_s": 30},
        "logging": {"level": "INFO", "json": True},
    }
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(_merge(data, sections)), encoding="utf-8")
    return path
