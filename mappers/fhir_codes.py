"""Code systems, canonical URLs and lookup tables for the FHIR mapper (both directions).

Codes come from mCODE STU4 (``http://hl7.org/fhir/us/mcode``), CodeX Radiation Therapy 2.0
(``http://hl7.org/fhir/us/codex-radiation-therapy``), SNOMED CT and LOINC. Tables map a code to the plain name the
case model uses ("photons", "VMAT"); the writer reverses them. Names not in a table travel as ``CodeableConcept.text``.
"""

from __future__ import annotations

from typing import Final

from rtletter.mappers.case import Intent

# --- code systems ---------------------------------------------------------------------------------------------------
SNOMED: Final = "http://snomed.info/sct"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
NCIT: Final = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
ICD10_GM: Final = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
OPS: Final = "http://fhir.de/CodeSystem/bfarm/ops"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0276: Final = "http://terminology.hl7.org/CodeSystem/v2-0276"
AE_SEVERITY: Final = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
NULL_FLAVOR: Final = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
# rtletter's own code system, only for things no standard codes (documented in docs/fhir-mapping.md).
RTLETTER_CS: Final = "http://rtletter.example.org/fhir/CodeSystem/rt-events"
RTLETTER_SD: Final = "http://rtletter.example.org/fhir/StructureDefinition/"

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
# Diagnosis codings in order of preference when a CodeableConcept carries several.
DIAGNOSIS_SYSTEMS: Final = (ICD10_GM, ICD10, ICD10_CM, SNOMED)

# --- profiles and extensions ----------------------------------------------------------------------------------------
MCODE_SD: Final = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
CODEXRT_SD: Final = "http://hl7.org/fhir/us/codex-radiation-therapy/StructureDefinition/"

PROFILE_COURSE_SUMMARY: Final = MCODE_SD + "mcode-radiotherapy-course-summary"
PROFILE_CODEXRT_COURSE_SUMMARY: Final = CODEXRT_SD + "codexrt-radiotherapy-course-summary"
PROFILE_TREATED_PHASE: Final = CODEXRT_SD + "codexrt-radiotherapy-treated-phase"
PROFILE_PLANNED_COURSE: Final = CODEXRT_SD + "codexrt-radiotherapy-planned-course"
PROFILE_PLANNED_PHASE: Final = CODEXRT_SD + "codexrt-radiotherapy-planned-phase"
PROFILE_COURSE_PRESCRIPTION: Final = CODEXRT_SD + "codexrt-radiotherapy-course-prescription"
PROFILE_VOLUME: Final = MCODE_SD + "mcode-radiotherapy-volume"
PROFILE_CODEXRT_VOLUME: Final = CODEXRT_SD + "codexrt-radiotherapy-volume"
PROFILE_PRIMARY_CANCER: Final = MCODE_SD + "mcode-primary-cancer-condition"
PROFILE_SECONDARY_CANCER: Final = MCODE_SD + "mcode-secondary-cancer-condition"
PROFILE_TNM_STAGE_GROUP: Final = MCODE_SD + "mcode-tnm-stage-group"
PROFILE_PATIENT: Final = MCODE_SD + "mcode-cancer-patient"
PROFILE_SURGERY: Final = MCODE_SD + "mcode-cancer-related-surgical-procedure"
PROFILE_MED_ADMIN: Final = MCODE_SD + "mcode-cancer-related-medication-administration"
PROFILE_ECOG: Final = MCODE_SD + "mcode-ecog-performance-status"
PROFILE_KARNOFSKY: Final = MCODE_SD + "mcode-karnofsky-performance-status"
PROFILE_ADVERSE_EVENT: Final = CODEXRT_SD + "codexrt-radiotherapy-adverse-event"

EXT_INTENT: Final = MCODE_SD + "mcode-procedure-intent"
EXT_MODALITY_AND_TECHNIQUE: Final = MCODE_SD + "mcode-radiotherapy-modality-and-technique"
EXT_MODALITY: Final = MCODE_SD + "mcode-radiotherapy-modality"
EXT_TECHNIQUE: Final = MCODE_SD + "mcode-radiotherapy-technique"
EXT_SESSIONS: Final = MCODE_SD + "mcode-radiotherapy-sessions"
EXT_DOSE_DELIVERED: Final = MCODE_SD + "mcode-radiotherapy-dose-delivered-to-volume"
EXT_LATERALITY: Final = MCODE_SD + "mcode-laterality-qualifier"
EXT_HISTOLOGY: Final = MCODE_SD + "mcode-histology-morphology-behavior"
EXT_ENERGY_OR_ISOTOPE: Final = CODEXRT_SD + "codexrt-radiotherapy-energy-or-isotope"
EXT_APPLICATOR: Final = CODEXRT_SD + "codexrt-radiotherapy-treatment-applicator-type"
EXT_UNIFORM_FRACTIONATION: Final = CODEXRT_SD + "codexrt-radiotherapy-uniform-fractionation"
EXT_REIRRADIATION: Final = CODEXRT_SD + "codexrt-radiotherapy-course-involves-reirradiation"
EXT_IMAGE_GUIDANCE: Final = CODEXRT_SD + "codexrt-image-guided-radiotherapy-modality"
EXT_MOTION_MANAGEMENT: Final = CODEXRT_SD + "codexrt-radiotherapy-respiratory-motion-management"
EXT_FRACTIONS_DELIVERED: Final = CODEXRT_SD + "codexrt-radiotherapy-fractions-delivered"
EXT_FRACTIONS_PLANNED: Final = CODEXRT_SD + "codexrt-radiotherapy-fractions-planned"
EXT_DOSE_PLANNED: Final = CODEXRT_SD + "codexrt-radiotherapy-dose-planned-to-volume"
EXT_DOSE_PRESCRIBED: Final = CODEXRT_SD + "codexrt-radiotherapy-dose-prescribed-to-volume"
EXT_REVISION_REASON: Final = CODEXRT_SD + "codexrt-radiotherapy-reason-for-revision-or-adaptation"
EXT_AE_GRADE: Final = "http://hl7.org/fhir/uv/ae-research-ig/StructureDefinition/ae-grade"
EXT_AE_SEVERITY: Final = "http://hl7.org/fhir/uv/ae-research-ig/StructureDefinition/ae-severity"
EXT_CONDITION_ASSERTED_DATE: Final = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
EXT_TREATMENT_CYCLES: Final = RTLETTER_SD + "treatment-cycles"  # local: no standard element for cycle counts

# --- codes ----------------------------------------------------------------------------------------------------------
# mCODE: course summary code SNOMED 1217123003, older data the temporary code USCRS-33529 (any system).
COURSE_SUMMARY_CODE: Final = "1217123003"
COURSE_SUMMARY_TEMPORARY_CODE: Final = "USCRS-33529"
COURSE_SUMMARY_CODES: Final = frozenset({COURSE_SUMMARY_CODE, COURSE_SUMMARY_TEMPORARY_CODE})
COURSE_SUMMARY_PROFILES: Final = frozenset({PROFILE_COURSE_SUMMARY, PROFILE_CODEXRT_COURSE_SUMMARY})
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
