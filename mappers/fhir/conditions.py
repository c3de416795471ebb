"""Cancer Conditions (mCODE primary/secondary), TNM stage group, grade and histology -> the case's diagnoses.

Without any Condition the course summary's ``reasonCode`` is the diagnosis (the IHE-RO XRTS cases carry no Condition).
"""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.procedure import Procedure

from rtletter.mappers.case import Diagnosis, DiagnosisRole
from rtletter.mappers.codes import (
    DIAGNOSIS_SYSTEMS,
    HISTOLOGY_GRADE_LOINC,
    LATERALITY_BY_CODE,
    RECEPTOR_STATUS_LOINC,
    STAGE_GROUP_LOINC,
    TNM_CATEGORY_LOINC,
)
from rtletter.mappers.fhir.index import (
    BundleIndex,
    Inputs,
    as_date,
    case_coding,
    concept_text,
    extension,
    has_code,
    has_profile,
    lookup,
    resource_key,
)
from rtletter.mappers.fhir.profiles import (
    EXT_CONDITION_ASSERTED_DATE,
    EXT_HISTOLOGY,
    EXT_LATERALITY,
    PROFILE_PRIMARY_CANCER,
    PROFILE_SECONDARY_CANCER,
    PROFILE_TNM_STAGE_GROUP,
)


def map_diagnoses(course: Procedure, patient_key: str, index: BundleIndex, inputs: Inputs) -> list[Diagnosis]:
    """The course's Conditions (``reasonReference`` first, then the patient's others); else its ``reasonCode``."""
    referenced = [index.resolve(r) for r in course.reasonReference or []]
    conditions = [c for c in referenced if isinstance(c, Condition)]
    seen = {resource_key(c) for c in conditions}
    conditions += [c for c in index.about(Condition, patient_key) if resource_key(c) not in seen]
    if not conditions:
        return [_from_reason_code(concept, course, inputs) for concept in course.reasonCode or []]
    observations = list(index.about(Observation, patient_key))
    referenced_keys = {resource_key(c) for c in referenced if c is not None}
    return [
        _map_condition(c, resource_key(c) in referenced_keys, observations, index, inputs)
        for c in conditions
        if c.verificationStatus is None or not has_code(c.verificationStatus, {"refuted", "entered-in-error"})
    ]


def _map_condition(
    condition: Condition, referenced: bool, observations: list[Observation], index: BundleIndex, inputs: Inputs
) -> Diagnosis:
    code = case_coding(condition.code, DIAGNOSIS_SYSTEMS)
    laterality = None
    for site in condition.bodySite or []:
        ext = extension(site, EXT_LATERALITY)
        if ext is not None:
            laterality = lookup(ext.valueCodeableConcept, LATERALITY_BY_CODE)
    histology_ext = extension(condition, EXT_HISTOLOGY)
    diagnosis = Diagnosis(
        role=_role(condition, referenced, code.code if code else None),
        code=code,
        text=condition.code.text if condition.code and condition.code.text else None,
        laterality=laterality,
        histology=case_coding(histology_ext.valueCodeableConcept) if histology_ext else None,
        diagnosis_date=_diagnosis_date(condition),
        source=inputs.use(condition),
    )
    for observation in observations:
        if not any(index.resolve(f) is condition for f in observation.focus or []):
            continue
        if has_profile(observation, {PROFILE_TNM_STAGE_GROUP}) or has_code(observation.code, STAGE_GROUP_LOINC):
            diagnosis.stage = concept_text(observation.valueCodeableConcept)
            diagnosis.tnm = _tnm(observation, index, inputs)
        elif has_code(observation.code, {HISTOLOGY_GRADE_LOINC}):
            diagnosis.grade = concept_text(observation.valueCodeableConcept) or observation.valueString
        elif has_code(observation.code, {RECEPTOR_STATUS_LOINC}):
            diagnosis.receptor_status = observation.valueString or concept_text(observation.valueCodeableConcept)
        else:
            continue
        inputs.use(observation)
    return diagnosis


def _tnm(stage_group: Observation, index: BundleIndex, inputs: Inputs) -> str | None:
    """TNM as written: the stage group's note (rtletter writes it there), else its T/N/M category members."""
    notes = [n.text for n in stage_group.note or [] if n.text]
    if notes:
        return notes[0]
    parts: dict[str, str] = {}
    for member_ref in stage_group.hasMember or []:
        member = index.resolve(member_ref)
        if not isinstance(member, Observation) or member.code is None:
            continue
        for coding in member.code.coding or []:
            category = TNM_CATEGORY_LOINC.get(coding.code or "")
            value = concept_text(member.valueCodeableConcept)
            if category and value:
                parts.setdefault(category, value)
                inputs.use(member)
    return " ".join(parts[c] for c in ("T", "N", "M") if c in parts) or None


def _role(condition: Condition, referenced: bool, code: str | None) -> DiagnosisRole:
    if has_profile(condition, {PROFILE_SECONDARY_CANCER}):
        return "secondary"
    if has_profile(condition, {PROFILE_PRIMARY_CANCER}):
        return "primary"
    if any(has_code(c, {"problem-list-item"}) for c in condition.category or []):
        return "comorbidity"
    return _role_by_code(code) if not referenced else _role_by_code(code, default="primary")


def _role_by_code(code: str | None, default: DiagnosisRole = "comorbidity") -> DiagnosisRole:
    """ICD-10 C77-C79 are secondary neoplasms, other C codes primary ones."""
    if code and code[:3] in {"C77", "C78", "C79"}:
        return "secondary"
    if code and code.startswith("C"):
        return "primary"
    return default


def _diagnosis_date(condition: Condition) -> date | None:
    found: date | None = as_date(condition.onsetDateTime)
    asserted = extension(condition, EXT_CONDITION_ASSERTED_DATE)
    if found is None and asserted is not None:
        found = as_date(asserted.valueDateTime)
    if found is None:
        found = as_date(condition.recordedDate)
    return found


def _from_reason_code(concept: CodeableConcept, course: Procedure, inputs: Inputs) -> Diagnosis:
    code = case_coding(concept, DIAGNOSIS_SYSTEMS)
    return Diagnosis(
        role=_role_by_code(code.code if code else None, default="primary"),
        code=code,
        text=concept.text,
        source=inputs.use(course),
    )
