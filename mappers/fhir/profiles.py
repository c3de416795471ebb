"""FHIR profile and extension URLs (StructureDefinition canonicals) the FHIR reader and writer use.

mCODE STU4 (``http://hl7.org/fhir/us/mcode``), CodeX Radiation Therapy 2.0
(``http://hl7.org/fhir/us/codex-radiation-therapy``), the AE research IG, core FHIR extensions and rtletter's own
(documented in docs/fhir-mapping.md). Code systems and codes are in ``rtletter.mappers.codes``.
"""

from __future__ import annotations

from typing import Final

RTLETTER_SD: Final = "http://rtletter.example.org/fhir/StructureDefinition/"
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

COURSE_SUMMARY_PROFILES: Final = frozenset({PROFILE_COURSE_SUMMARY, PROFILE_CODEXRT_COURSE_SUMMARY})
