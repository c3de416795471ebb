"""DG1 -> diagnoses, PR1 -> surgeries (an OPS 8-52 radiotherapy PR1 is the course itself, not a surgery).

- DG1-3 diagnosis code (coding system in DG1-3.3: I10, ICD10GM, ICD10CM ...), DG1-4 text, DG1-5 date, DG1-15
  priority 1 -> primary. DG1-6 (admitting/working/final) is not kept. Profile ``diagnosis`` observations with the
  same set id (DG1-1 = OBX-4) add laterality, histology, grade, TNM, stage and receptor status.
- PR1-3 procedure code (OPS: O301), PR1-4 text, PR1-5 date -> surgeries.
"""

from __future__ import annotations

import re

from rtletter.mappers.case import Coding, Diagnosis, DiagnosisRole, Surgery
from rtletter.mappers.codes import OPS, canonical_system
from rtletter.mappers.hl7v2.message import Message, Segment
from rtletter.mappers.hl7v2.observations import Observations
from rtletter.mappers.hl7v2.values import DIAGNOSIS_ROLES, invalid_value, parse_date


def map_dg1(seg: Segment) -> Diagnosis:
    """DG1 -> Diagnosis (role decided later from DG1-15 and the profile's diagnosis_role)."""
    code = seg.get(3)
    coding = None
    if code:
        coding = Coding(code=code, display=seg.get(3, 2), system=canonical_system(seg.get(3, 3)))
    return Diagnosis(
        code=coding,
        text=seg.text(4) or seg.get(3, 2),
        diagnosis_date=parse_date(seg.get(5), seg.where(5)),
        source=seg.label,
    )


def map_pr1(seg: Segment) -> Surgery | None:
    """PR1 -> Surgery: PR1-3 code, PR1-4 text (else the code's display), PR1-5 date."""
    code = seg.get(3)
    coding = Coding(code=code, display=seg.get(3, 2), system=canonical_system(seg.get(3, 3))) if code else None
    text = seg.text(4) or seg.get(3, 2) or code
    if not text:
        return None
    return Surgery(text=text, code=coding, performed=parse_date(seg.get(5), seg.where(5)), source=seg.label)


def map_diagnoses(message: Message, found: Observations) -> list[Diagnosis]:
    by_key: dict[str, Diagnosis] = {}
    priority: dict[str, bool] = {}
    for seg in message.all("DG1"):
        key = seg.get(1) or str(seg.index)
        by_key[key] = map_dg1(seg)
        priority[key] = seg.get(15) == "1"
    explicit: dict[str, DiagnosisRole] = {}
    for key, group in found.group("diagnosis").items():
        updates: dict[str, object] = {
            "code": group.coding("diagnosis_code"),
            "text": group.text("diagnosis_text"),
            "diagnosis_date": group.day("diagnosis_date"),
            "laterality": group.text("diagnosis_laterality"),
            "histology": group.coding("diagnosis_histology"),
            "grade": group.text("diagnosis_grade"),
            "tnm": group.text("diagnosis_tnm"),
            "stage": group.text("diagnosis_stage"),
            "receptor_status": group.text("diagnosis_receptor_status"),
        }
        updates = {k: v for k, v in updates.items() if v is not None}
        role_obs = group.first("diagnosis_role")
        if role_obs is not None and role_obs.raw():
            role = DIAGNOSIS_ROLES.get((role_obs.raw() or "").lower())
            if role is None:
                raise invalid_value(role_obs.where, "not a diagnosis role (primary, secondary, comorbidity)")
            explicit[key] = role
        if key in by_key:
            by_key[key] = by_key[key].model_copy(update=updates)
        elif updates.get("code") or updates.get("text"):
            by_key[key] = Diagnosis.model_validate({"source": f"OBX diagnosis {key}", **updates})
    diagnoses = []
    has_primary = any(r == "primary" for r in explicit.values()) or any(
        priority.get(k) for k in by_key if k not in explicit
    )
    for key, diagnosis in by_key.items():
        if key in explicit:
            role = explicit[key]
        elif priority.get(key) or not has_primary:
            role = "primary"
            has_primary = True
        else:
            role = "secondary"
        diagnoses.append(diagnosis.model_copy(update={"role": role}))
    return diagnoses


_OPS_RADIOTHERAPY = re.compile(r"8-?52\d")  # OPS 8-52: Strahlentherapie (8-520 ... 8-529)


def is_radiotherapy_pr1(seg: Segment) -> bool:
    """PR1-3 an OPS radiotherapy code (8-52...): the course itself, not an earlier operation."""
    code = (seg.get(3) or "").strip()
    system = canonical_system(seg.get(3, 3))
    return bool(_OPS_RADIOTHERAPY.match(code)) and system in (None, OPS)


def map_surgeries(message: Message, found: Observations) -> list[Surgery]:
    surgeries = [s for s in (map_pr1(seg) for seg in message.all("PR1") if not is_radiotherapy_pr1(seg)) if s]
    for key, group in found.group("surgery").items():
        coding = group.coding("surgery_code")
        text = group.text("surgery_text") or (coding.display or coding.code if coding else None)
        if text:
            surgeries.append(
                Surgery(text=text, code=coding, performed=group.day("surgery_date"), source=f"OBX surgery {key}")
            )
    return surgeries
