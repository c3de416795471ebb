"""Code systems, their canonical URLs and the codes rtletter reads and writes, for every format (one place).

- Code systems: the canonical URL of each (SNOMED CT, LOINC, ICD-10-GM, OPS, HL7 terminology ...).
- HL7 v2 names: HL7 table 0396 coding system names (CWE.3) -> canonical URL (``canonical_system``), and back
  (``v2_system_name``).
- Codes: mCODE STU4 (``http://hl7.org/fhir/us/mcode``), CodeX Radiation Therapy 2.0
  (``http://hl7.org/fhir/us/codex-radiation-therapy``), SNOMED CT and LOINC. Tables map a code to the plain name the
  case model uses ("photons", "VMAT"); the writers reverse them. Names not in a table travel as text.

FHIR profile and extension URLs (StructureDefinitions, not code systems) are in ``rtletter.mappers.fhir.profiles``.
"""

from __future__ import annotations

import re
from typing import Final

from rtletter.mappers.case import Intent

# --- code systems ---------------------------------------------------------------------------------------------------
SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
NCIT: Final = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
ICD10_GM: Final = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
ICD10_GM_DIMDI: Final = "http://fhir.de/CodeSystem/dimdi/icd-10-gm"  # its URL before BfArM took over from DIMDI
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
ICD9_CM: Final = "http://hl7.org/fhir/sid/icd-9-cm"
ICD_O_3: Final = "http://terminology.hl7.org/CodeSystem/icd-o-3"
OPS: Final = "http://fhir.de/CodeSystem/bfarm/ops"
CPT: Final = "http://www.ama-assn.org/go/cpt"
MEDDRA: Final = "http://terminology.hl7.org/CodeSystem/mdr"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0276: Final = "http://terminology.hl7.org/CodeSystem/v2-0276"
AE_SEVERITY: Final = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
NULL_FLAVOR: Final = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
# The write-back and sign-off (DocumentReference, Device, Provenance, Task).
OBSERVATION_VALUE: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
DATA_OPERATION: Final = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_PARTICIPANT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
US_CORE_DOCUMENT_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
AI_DEVICE_TYPE_SYSTEM: Final = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS"
TASK_CODE: Final = "http://hl7.org/fhir/CodeSystem/task-code"
# The agent's AuditEvents.
AUDIT_EVENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION: Final = "http://hl7.org/fhir/restful-interaction"
PARTICIPATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SECURITY_SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
AUDIT_ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
# rtletter's own code system, only for things no standard codes (documented in docs/fhir-mapping.md).
RTLETTER_CS: Final = "http://rtletter.example.org/fhir/CodeSystem/rt-events"

# Short names a case may carry in ``Coding.system``; the writer emits the canonical URL.
SYSTEM_URLS: Final[dict[str, str]] = {
    "ICD-10-GM": ICD10_GM,
    "ICD-10": ICD10,
    "ICD-10-CM": ICD10_CM,
    "OPS": OPS,
    "SNOMED": SNOMED,
    "SNOMED CT": SNOMED,
    "LOINC": LOINC,
}
# Canonical URLs -> the short name a letter and the prompt use.
SHORT_NAMES: Final[dict[str, str]] = {
    ICD10_GM: "ICD-10-GM",
    ICD10_GM_DIMDI: "ICD-10-GM",
    ICD10: "ICD-10",
    ICD10_CM: "ICD-10-CM",
    SNOMED: "SNOMED CT",
    ICD_O_3: "ICD-O-3",
}
# Diagnosis codings in order of preference when a CodeableConcept carries several.
DIAGNOSIS_SYSTEMS: Final = (ICD10_GM, ICD10, ICD10_CM, SNOMED)

# --- codes ----------------------------------------------------------------------------------------------------------
# mCODE: course summary code SNOMED 1217123003, older data the temporary code USCRS-33529 (any system).
COURSE_SUMMARY_CODE: Final = "1217123003"
COURSE_SUMMARY_TEMPORARY_CODE: Final = "USCRS-33529"
COURSE_SUMMARY_CODES: Final = frozenset({COURSE_SUMMARY_CODE, COURSE_SUMMARY_TEMPORARY_CODE})
TREATED_PHASE_CODE: Final = "1222565005"  # CodeX: Radiotherapy treatment phase
TREATED_PLAN_CODE: Final = "1255724003"  # CodeX: Radiotherapy treatment plan
RADIOTHERAPY_CATEGORY: Final = "1287742003"  # CodeX: Radiotherapy (procedure)
BRACHYTHERAPY_PROCEDURE_CODE: Final = "152198000"  # SNOMED: Brachytherapy (procedure)
PRIOR_RADIOTHERAPY_CODE: Final = "108290001"  # SNOMED: Radiation oncology AND/OR radiotherapy (procedure)
SURGICAL_CATEGORY: Final = "387713003"  # SNOMED: Surgical procedure
REFERRAL_CODE: Final = "3457005"  # SNOMED: Patient referral (procedure)
FOLLOW_UP_CODE: Final = "390906007"  # SNOMED: Follow-up encounter
CARE_PLAN_CATEGORY: Final = "736271009"  # SNOMED: Outpatient care plan
INTERRUPTION_CODE: Final = "interruption"  # rtletter code system (no SNOMED concept for a course interruption)
ECOG_LOINC: Final = "89247-1"  # LOINC: ECOG Performance Status score
KARNOFSKY_LOINC: Final = "89243-0"  # LOINC: Karnofsky Performance Status score
STAGE_GROUP_LOINC: Final = frozenset({"21908-9", "21902-2", "21914-7"})  # clinical, pathologic, other stage group
STAGE_GROUP_CLINICAL_LOINC: Final = "21908-9"
TNM_CATEGORY_LOINC: Final[dict[str, str]] = {  # mCODE TNM category Observations (hasMember of the stage group)
    "21905-5": "T",
    "21899-0": "T",
    "21906-3": "N",
    "21900-6": "N",
    "21907-1": "M",
    "21901-4": "M",
}
HISTOLOGY_GRADE_LOINC: Final = "33732-9"  # LOINC: Histology grade [Identifier] in Cancer specimen
RECEPTOR_STATUS_LOINC: Final = "85337-4"  # LOINC: Estrogen+Progesterone+HER2 receptor panel (as written text)

INTENT_BY_CODE: Final[dict[str, Intent]] = {  # mCODE ProcedureIntentVS (SNOMED)
    "373808002": Intent.curative,
    "363676003": Intent.palliative,
    "399707004": Intent.supportive,
    "373846009": Intent.adjuvant,  # Adjuvant - intent (verify)
    "373847000": Intent.neoadjuvant,  # Neo-adjuvant - intent (verify)
}
CODE_BY_INTENT: Final[dict[Intent, str]] = {intent: code for code, intent in INTENT_BY_CODE.items()}

MODALITY_BY_CODE: Final[dict[str, str]] = {  # mCODE RadiotherapyModalityVS (SNOMED)
    "1156506007": "photons",
    "45643008": "electrons",
    "10611004": "protons",
    "80347004": "neutrons",
    "1156505006": "carbon ions",
    "394902000": "HDR brachytherapy",
    "169359004": "permanent seed brachytherapy",
    "169317000": "neutron capture therapy",
}
CODE_BY_MODALITY: Final[dict[str, str]] = {name: code for code, name in MODALITY_BY_CODE.items()}
BRACHY_DOSE_RATE_BY_CODE: Final[dict[str, str]] = {"394902000": "HDR"}
BRACHYTHERAPY_MODALITY_CODES: Final = frozenset({"394902000", "169359004"})

TECHNIQUE_BY_CODE: Final[dict[str, str]] = {  # mCODE RadiotherapyTechniqueVS (SNOMED)
    "441799006": "IMRT",
    "1156530009": "VMAT",
    "1162782007": "3D-CRT",
    "113120007": "interstitial brachytherapy",
    "384692006": "intracavitary brachytherapy",
}
CODE_BY_TECHNIQUE: Final[dict[str, str]] = {name: code for code, name in TECHNIQUE_BY_CODE.items()}

ISOTOPE_BY_CODE: Final[dict[str, str]] = {  # CodeX energy-or-isotope (SNOMED substances)
    "48341001": "Ir-192",
    "68630002": "I-125",
    "3200001": "Co-60",
    "42807007": "Pd-103",
}
CODE_BY_ISOTOPE: Final[dict[str, str]] = {name: code for code, name in ISOTOPE_BY_CODE.items()}

IMAGE_GUIDANCE_BY_CODE: Final[dict[str, str]] = {"717193008": "CBCT", "77477000": "CT", "168537006": "X-ray imaging"}

VOLUME_TYPE_BY_CODE: Final[dict[str, str]] = {  # CodeX Volume morphology (SNOMED observable entities)
    "228793007": "PTV",
    "228792002": "CTV",
    "228791009": "GTV",
}
CODE_BY_VOLUME_TYPE: Final[dict[str, str]] = {name: code for code, name in VOLUME_TYPE_BY_CODE.items()}

LATERALITY_BY_CODE: Final[dict[str, str]] = {  # mCODE LateralityQualifierVS (SNOMED)
    "7771000": "left",
    "24028007": "right",
    "51440002": "bilateral",
}
CODE_BY_LATERALITY: Final[dict[str, str]] = {name: code for code, name in LATERALITY_BY_CODE.items()}

# NCI Thesaurus CTCAE grade concepts used by the AE research IG's ae-grade extension.
AE_GRADE_BY_CODE: Final[dict[str, int]] = {
    "C41338": 1,  # Mild Adverse Event
    "C41339": 2,  # Moderate Adverse Event
    "C41340": 3,  # Severe Adverse Event
    "C41337": 4,  # Life Threatening or Disabling Adverse Event
    "C48275": 5,  # Death Related to Adverse Event
}
CODE_BY_AE_GRADE: Final[dict[int, str]] = {grade: code for code, grade in AE_GRADE_BY_CODE.items()}

UNITS_TO_GY: Final[dict[str, float]] = {"gy": 1.0, "cgy": 0.01, "mgy": 0.001}

# --- HL7 v2 coding system names -------------------------------------------------------------------------------------

# HL7 table 0396 names (and common variants) -> canonical URL. Unknown names are kept as sent.
V2_CODE_SYSTEMS: Final[dict[str, str]] = {
    "I10": ICD10,
    "ICD10": ICD10,
    "ICD-10": ICD10,
    "ICD10GM": ICD10_GM,
    "I10GM": ICD10_GM,
    "ICD-10-GM": ICD10_GM,
    "ICD10CM": ICD10_CM,
    "I10CM": ICD10_CM,
    "I10C": ICD10_CM,
    "ICD-10-CM": ICD10_CM,
    "I9": ICD9_CM,
    "I9C": ICD9_CM,
    "I9CM": ICD9_CM,
    "O301": OPS,  # table 0396: German procedure codes (OPS § 301)
    "O": OPS,  # "O-2026": OPS with its year
    "OPS": OPS,
    "OPS-301": OPS,
    "SCT": SNOMED,
    "SNM": SNOMED,  # table 0396: SNOMED (older name)
    "SNM3": SNOMED,
    "SNOMED": SNOMED,
    "SNOMED-CT": SNOMED,
    "SNOMEDCT": SNOMED,
    "SNOMED CT": SNOMED,
    "LN": LOINC,
    "LOINC": LOINC,
    "ICDO3": ICD_O_3,
    "ICD-O-3": ICD_O_3,
    "C4": CPT,
    "CPT": CPT,
    "MEDR": MEDDRA,
    "MDR": MEDDRA,
    "MEDDRA": MEDDRA,
    "UCUM": UCUM,
}
# What the writer puts into CWE.3 for a canonical system.
V2_NAME_FOR_SYSTEM: Final[dict[str, str]] = {
    ICD10_GM: "ICD10GM",
    ICD10: "I10",
    ICD10_CM: "ICD10CM",
    ICD9_CM: "I9C",
    OPS: "O301",
    SNOMED: "SCT",
    LOINC: "LN",
    ICD_O_3: "ICDO3",
    CPT: "C4",
    MEDDRA: "MEDR",
    UCUM: "UCUM",
}
_ICD10GM_VERSIONED = re.compile(r"(I10G|ICD10GM)\d{4}\Z")  # I10G2004, ICD10GM2024
# A name with a version: "I10-2026", "ICD-10-GM-2025", "O-2026", "OPS 2024", "SNM3-2019" -> name and year.
_VERSIONED = re.compile(r"(.+?)[\s_-]*(?:V(?:ERSION)?)?[\s_-]*((?:19|20)\d{2})(?:[.-]\d+)?\Z")
# ICD-10 with a yearly version is the German modification (BfArM publishes ICD-10-GM by year; "I10-2026").
_YEARLY_IS_GM = frozenset({ICD10})


def canonical_system(system: str | None) -> str | None:
    """A v2 coding system name, a short name (``ICD-10-GM``), a versioned name (``I10-2026``, ``O-2026``) or a URL
    -> the canonical URL (unknown: unchanged)."""
    if not system:
        return None
    name = system.strip()
    upper = name.upper()
    if upper in V2_CODE_SYSTEMS:
        return V2_CODE_SYSTEMS[upper]
    if _ICD10GM_VERSIONED.match(upper):
        return ICD10_GM
    versioned = _VERSIONED.match(upper)
    if versioned and "://" not in upper:
        base = V2_CODE_SYSTEMS.get(versioned.group(1).strip(" _-"))
        if base is not None:
            return ICD10_GM if base in _YEARLY_IS_GM else base
    return name


def v2_system_name(system: str | None) -> str | None:
    """A case's coding system -> the HL7 table 0396 name the writer uses (unknown: unchanged)."""
    canonical = canonical_system(system)
    if canonical is None:
        return None
    return V2_NAME_FOR_SYSTEM.get(canonical, canonical)
