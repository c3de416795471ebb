"""``rtletter synth``: write a synthetic cohort to a folder.

Layout::

    <out>/manifest.json                 seed, n, lang, and per patient: id, entity, regimen, status, features, files
    <out>/<patient_id>/bundle.json      FHIR R4 collection Bundle (mCODE / CodeX RT)
    <out>/<patient_id>/course.hl7       HL7 v2 ORU^R01 in the default profile (CR segment ends; UTF-8 or ISO 8859-1)
    <out>/<patient_id>/letter.txt       the reference letter (UTF-8)
    <out>/<patient_id>/case.json        the case the three above were written from

Every file is byte-for-byte the same for the same seed, n and lang (sorted JSON keys, LF line ends, no timestamps).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rtletter.demo.synth.generate import SyntheticPatient, generate_cohort

FILES = ("bundle.json", "course.hl7", "letter.txt", "case.json")


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    # Rewrite only on change, so a rerun over an existing cohort leaves identical files untouched.
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def write_patient(folder: Path, patient: SyntheticPatient) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "bundle.json", _json_bytes(patient.bundle))
    _write(folder / "course.hl7", patient.v2)
    _write(folder / "letter.txt", patient.letter.encode("utf-8"))
    _write(folder / "case.json", _json_bytes(patient.case.model_dump(mode="json")))


def write_cohort(out: Path, n: int, seed: int, lang: str) -> str:
    """Write n synthetic patients under ``out`` and a manifest; return a one-paragraph summary."""
    patients = generate_cohort(n, seed, lang)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for patient in patients:
        write_patient(out / patient.patient_id, patient)
        entries.append({
            "patient_id": patient.patient_id,
            "entity": patient.entity,
            "regimen": patient.regimen,
            "status": patient.status,
            "features": list(patient.features),
            "style": patient.style,
            "v2_encoding": patient.v2_encoding,
            "letter_date": patient.letter_date.isoformat() if patient.letter_date else None,
            "files": list(FILES),
        })  # fmt: skip
    manifest = {"seed": seed, "n": n, "lang": lang, "patients": entries}
    _write(out / "manifest.json", _json_bytes(manifest))
    return summarize(patients, out)


def summarize(patients: list[SyntheticPatient], out: Path) -> str:
    entities = Counter(p.entity for p in patients)
    features = Counter(f for p in patients for f in p.features)
    per_entity = ", ".join(f"{name} {count}" for name, count in sorted(entities.items()))
    special = ", ".join(f"{name} {count}" for name, count in sorted(features.items()))
    latin1 = sum(1 for p in patients if p.v2_encoding == "latin-1")
    return (
        f"Wrote {len(patients)} synthetic patients to {out} ({len(entities)} entities: {per_entity}). "
        f"Special cases: {special or 'none'}. HL7 v2 in ISO 8859-1: {latin1}, UTF-8: {len(patients) - latin1}."
    )
