"""Case -> FHIR R4 ``collection`` Bundle (mCODE STU4 / CodeX RT 2.0), the reverse of ``fhir.bundle``.

    bundle_from_case(case) -> dict

For the synthetic cohort and round-trip tests. Ids derive from the case (course id, a hash of the MRN), never from a
clock or a random source, so the same case always gives the same bytes. Where each case field goes, and which
standard says so, is in docs/fhir-mapping.md; ``case_from_bundle(bundle_from_case(c))[0]`` gives ``c`` back.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from rtletter.mappers.case import (
    Appointment,
    Brachytherapy,
    Case,
    Coding,
    Course,
    CourseStatus,
    Diagnosis,
    Intent,
    Interruption,
    PerformanceStatus,
    Phase,
    Physician,
    PriorRadiotherapy,
    Surgery,
    SystemicTherapy,
    TargetVolume,
    Toxicity,
)
from rtletter.mappers.codes import (
    AE_SEVERITY,
    BRACHYTHERAPY_PROCEDURE_CODE,
    CARE_PLAN_CATEGORY,
    CODE_BY_AE_GRADE,
    CODE_BY_INTENT,
    CODE_BY_ISOTOPE,
    CODE_BY_LATERALITY,
    CODE_BY_MODALITY,
    CODE_BY_TECHNIQUE,
    CODE_BY_VOLUME_TYPE,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    ECOG_LOINC,
    HISTOLOGY_GRADE_LOINC,
    INTERRUPTION_CODE,
    KARNOFSKY_LOINC,
    LOINC,
    NCIT,
    NULL_FLAVOR,
    OBSERVATION_CATEGORY,
    PRIOR_RADIOTHERAPY_CODE,
    RADIOTHERAPY_CATEGORY,
    RECEPTOR_STATUS_LOINC,
    REFERRAL_CODE,
    RTLETTER_CS,
    SNOMED,
    STAGE_GROUP_CLINICAL_LOINC,
    SURGICAL_CATEGORY,
    SYSTEM_URLS,
    TREATED_PHASE_CODE,
    UCUM,
    V2_0203,
)
from rtletter.mappers.fhir.profiles import (
    EXT_AE_GRADE,
    EXT_AE_SEVERITY,
    EXT_APPLICATOR,
    EXT_DOSE_DELIVERED,
    EXT_DOSE_PLANNED,
    EXT_ENERGY_OR_ISOTOPE,
    EXT_FRACTIONS_DELIVERED,
    EXT_FRACTIONS_PLANNED,
    EXT_HISTOLOGY,
    EXT_IMAGE_GUIDANCE,
    EXT_INTENT,
    EXT_LATERALITY,
    EXT_MODALITY,
    EXT_MODALITY_AND_TECHNIQUE,
    EXT_MOTION_MANAGEMENT,
    EXT_REIRRADIATION,
    EXT_SESSIONS,
    EXT_TECHNIQUE,
    EXT_TREATMENT_CYCLES,
    EXT_UNIFORM_FRACTIONATION,
    PROFILE_ADVERSE_EVENT,
    PROFILE_CODEXRT_COURSE_SUMMARY,
    PROFILE_CODEXRT_VOLUME,
    PROFILE_COURSE_SUMMARY,
    PROFILE_ECOG,
    PROFILE_KARNOFSKY,
    PROFILE_MED_ADMIN,
    PROFILE_PATIENT,
    PROFILE_PLANNED_COURSE,
    PROFILE_PLANNED_PHASE,
    PROFILE_PRIMARY_CANCER,
    PROFILE_SECONDARY_CANCER,
    PROFILE_SURGERY,
    PROFILE_TNM_STAGE_GROUP,
    PROFILE_TREATED_PHASE,
    PROFILE_VOLUME,
)

__all__ = ["bundle_from_case"]

BASE_URL = "http://rtletter.example.org/fhir"  # fullUrl base of the collection's entries
SITE_TIME_ZONE = "Europe/Berlin"  # appointment times in the case are local wall-clock times
MRN_SYSTEM = "urn:rtletter:mrn"
VOLUME_ID_SYSTEM = "urn:rtletter:volume"
COURSE_ID_SYSTEM = "urn:rtletter:course"
PHASE_ID_SYSTEM = "urn:rtletter:phase"
PHYSICIAN_ID_SYSTEM = "urn:rtletter:physician"

Json = dict[str, Any]
_ID_OK = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_STATUS: dict[CourseStatus, str] = {
    CourseStatus.completed: "completed",
    CourseStatus.stopped: "stopped",
    CourseStatus.in_progress: "in-progress",
    CourseStatus.unknown: "unknown",
}
_SEVERITIES = {"mild", "moderate", "severe"}


def bundle_from_case(case: Case, *, time_zone: tzinfo | None = None) -> Json:
    """A FHIR R4 collection Bundle (JSON-ready dict) holding the case as mCODE/CodeX resources."""
    return _Writer(case, time_zone or ZoneInfo(SITE_TIME_ZONE)).bundle()


def fhir_id(*parts: str) -> str:
    """A valid FHIR id from parts; long or odd ones are shortened with a hash (deterministic)."""
    raw = "-".join(parts)
    if _ID_OK.match(raw):
        return raw
    slug = re.sub(r"[^A-Za-z0-9\-.]+", "-", raw).strip("-.")
    if slug and len(slug) <= 64:
        return slug
    return f"{slug[:40].strip('-.')}-{_hash(raw)}".lstrip("-")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class _Writer:
    def __init__(self, case: Case, time_zone: tzinfo) -> None:
        self.case = case
        self.time_zone = time_zone
        self.course_id = fhir_id(case.course.id)
        self.patient_id = f"patient-{_hash(case.patient.id)}"  # the MRN is PHI: not in the id
        self.entries: list[Json] = []
        self.volume_ids: dict[tuple[Any, ...], str] = {}

    def add(self, resource: Json) -> str:
        reference = f"{resource['resourceType']}/{resource['id']}"
        self.entries.append({"fullUrl": f"{BASE_URL}/{reference}", "resource": resource})
        return reference

    def rid(self, *parts: str) -> str:
        return fhir_id(self.course_id, *parts)

    def bundle(self) -> Json:
        case = self.case
        patient_index = len(self.entries)
        self.add({"resourceType": "Patient", "id": self.patient_id})  # placeholder, filled below
        summary_ref = f"Procedure/{self.course_id}"
        copies = [self.physician(p, f"copy-{i}") for i, p in enumerate(case.copies_to)]
        patient = self.patient(copies)
        self.entries[patient_index]["resource"] = patient
        treating = self.physician(case.treating_physician, "treating") if case.treating_physician else None
        based_on = []
        if case.referring_physician is not None:
            based_on.append({"reference": self.referral(self.physician(case.referring_physician, "referring"))})
        conditions = [self.condition(dx, i) for i, dx in enumerate(case.diagnoses)]
        planned_ref = self.planned_course(case.course)
        based_on.insert(0, {"reference": planned_ref})
        summary = self.course_summary(case.course, treating, based_on, conditions)
        self.add(summary)
        for i, phase in enumerate(case.course.phases):
            self.phase(phase, i, summary_ref)
        if case.course.brachytherapy is not None:
            self.brachytherapy(case.course.brachytherapy, case.course, summary_ref)
        for i, surgery in enumerate(case.surgeries):
            self.surgery(surgery, i)
        before = len(case.systemic_therapies)
        for i, therapy in enumerate([*case.systemic_therapies, *case.course.concurrent_therapy]):
            self.therapy(therapy, i, summary_ref if i >= before else None)
        for i, prior in enumerate(case.prior_radiotherapy):
            self.prior_radiotherapy(prior, i)
        for i, toxicity in enumerate(case.toxicities):
            self.adverse_event(toxicity, i, summary_ref)
        for i, interruption in enumerate(case.interruptions):
            self.interruption(interruption, i, summary_ref)
        for i, status in enumerate(case.performance_status):
            self.performance_status(status, i)
        for i, appointment in enumerate(case.follow_up.appointments):
            self.appointment(appointment, i)
        if case.follow_up.recommendations:
            self.care_plan(case.follow_up.recommendations, conditions)
        return {
            "resourceType": "Bundle",
            "id": self.rid("bundle"),
            "language": case.language,
            "type": "collection",
            "entry": self.entries,
        }

    # --- people -----------------------------------------------------------------------------------------------------

    def patient(self, copies: list[str]) -> Json:
        p = self.case.patient
        resource: Json = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "meta": {"profile": [PROFILE_PATIENT]},
            "identifier": [
                {
                    "use": "usual",
                    "type": {"coding": [{"system": V2_0203, "code": "MR"}]},
                    "system": MRN_SYSTEM,
                    "value": p.id,
                }
            ],
            "gender": p.sex.value,
        }
        name = _name(p.given, p.family, None)
        if name:
            resource["name"] = [name]
        if p.birth_date:
            resource["birthDate"] = p.birth_date.isoformat()
        if p.address:
            resource["address"] = [{"text": p.address}]
        if p.deceased is not None:
            resource["deceasedBoolean"] = p.deceased
        if copies:
            # Copy recipients (GP, co-treating physicians): Patient.generalPractitioner (documented choice).
            resource["generalPractitioner"] = [{"reference": ref} for ref in copies]
        return resource

    def physician(self, physician: Physician | None, role: str) -> str:
        assert physician is not None
        practitioner: Json = {"resourceType": "Practitioner", "id": self.rid("practitioner", role)}
        if physician.id:
            practitioner["identifier"] = [{"system": PHYSICIAN_ID_SYSTEM, "value": physician.id}]
        name = _name(physician.given, physician.family, physician.prefix)
        if name:
            practitioner["name"] = [name]
        if physician.sex.value != "unknown":
            practitioner["gender"] = physician.sex.value
        if physician.address:
            practitioner["address"] = [{"text": physician.address}]
        reference = self.add(practitioner)
        if physician.organization is None:
            return reference
        organization = self.add(
            {"resourceType": "Organization", "id": self.rid("organization", role), "name": physician.organization}
        )
        return self.add(
            {
                "resourceType": "PractitionerRole",
                "id": self.rid("role", role),
                "practitioner": {"reference": reference},
                "organization": {"reference": organization},
            }
        )

    def referral(self, requester: str) -> str:
        """The referral: ServiceRequest SNOMED 3457005 whose requester is the referring physician."""
        return self.add(
            {
                "resourceType": "ServiceRequest",
                "id": self.rid("referral"),
                "status": "completed",
                "intent": "order",
                "code": _concept(SNOMED, REFERRAL_CODE, "Patient referral (procedure)"),
                "subject": self.subject(),
                "requester": {"reference": requester},
            }
        )

    def subject(self) -> Json:
        return {"reference": f"Patient/{self.patient_id}"}

    # --- diagnoses --------------------------------------------------------------------------------------------------

    def condition(self, dx: Diagnosis, i: int) -> str:
        condition: Json = {
            "resourceType": "Condition",
            "id": self.rid("condition", str(i)),
            "clinicalStatus": _concept(CONDITION_CLINICAL, "active"),
            "category": [
                _concept(
                    CONDITION_CATEGORY,
                    "problem-list-item" if dx.role == "comorbidity" else "encounter-diagnosis",
                )
            ],
            "code": _from_coding(dx.code, dx.text) or {"text": dx.text or "unknown"},
            "subject": self.subject(),
        }
        if dx.role == "primary":
            condition["meta"] = {"profile": [PROFILE_PRIMARY_CANCER]}
        elif dx.role == "secondary":
            condition["meta"] = {"profile": [PROFILE_SECONDARY_CANCER]}
        if dx.laterality:
            condition["bodySite"] = [
                {
                    "extension": [{"url": EXT_LATERALITY, "valueCodeableConcept": _laterality(dx.laterality)}],
                    "text": dx.laterality,
                }
            ]
        if dx.histology:
            condition["extension"] = [{"url": EXT_HISTOLOGY, "valueCodeableConcept": _from_coding(dx.histology)}]
        if dx.diagnosis_date:
            condition["onsetDateTime"] = dx.diagnosis_date.isoformat()
        reference = self.add(condition)
        focus = [{"reference": reference}]
        if dx.stage or dx.tnm:
            # mCODE TNMStageGroup; TNM as written goes to the note (rtletter keeps it as one string).
            stage: Json = {
                "resourceType": "Observation",
                "id": self.rid("stage", str(i)),
                "meta": {"profile": [PROFILE_TNM_STAGE_GROUP]},
                "status": "final",
                "code": _concept(LOINC, STAGE_GROUP_CLINICAL_LOINC, "Stage group.clinical Cancer"),
                "subject": self.subject(),
                "focus": focus,
            }
            if dx.stage:
                stage["valueCodeableConcept"] = {"text": dx.stage}
            if dx.tnm:
                stage["note"] = [{"text": dx.tnm}]
            self.add(stage)
        if dx.grade:
            self.add(
                self.observation(f"grade-{i}", HISTOLOGY_GRADE_LOINC, focus, valueCodeableConcept={"text": dx.grade})
            )
        if dx.receptor_status:
            self.add(self.observation(f"receptors-{i}", RECEPTOR_STATUS_LOINC, focus, valueString=dx.receptor_status))
        return reference

    def observation(self, key: str, loinc: str, focus: list[Json], **value: Any) -> Json:
        return {
            "resourceType": "Observation",
            "id": self.rid(key),
            "status": "final",
            "code": _concept(LOINC, loinc),
            "subject": self.subject(),
            "focus": focus,
            **value,
        }

    # --- the course -------------------------------------------------------------------------------------------------

    def course_summary(self, course: Course, treating: str | None, based_on: list[Json], conditions: list[str]) -> Json:
        extensions: list[Json] = []
        if course.intent != Intent.unknown:
            code = CODE_BY_INTENT.get(course.intent)
            concept = _concept(SNOMED, code) if code else {"text": course.intent.value}
            extensions.append({"url": EXT_INTENT, "valueCodeableConcept": concept})
        techniques = course.techniques or []
        modalities = course.modalities or []
        for i in range(max(len(modalities), len(techniques))):
            modality = modalities[min(i, len(modalities) - 1)] if modalities else None
            technique = techniques[i] if i < len(techniques) else None
            extensions.append(_modality_and_technique(modality, technique, course.energy if i == 0 else None))
        if course.energy and not (modalities or techniques):
            extensions.append(_modality_and_technique(None, None, course.energy))
        if course.sessions is not None:
            extensions.append({"url": EXT_SESSIONS, "valueUnsignedInt": course.sessions})
        if course.reirradiation is not None:
            extensions.append({"url": EXT_REIRRADIATION, "valueBoolean": course.reirradiation})
        if course.image_guidance:
            extensions.append(
                {
                    "url": EXT_IMAGE_GUIDANCE,
                    "extension": [{"url": "modality", "valueCodeableConcept": {"text": course.image_guidance}}],
                }
            )
        if course.motion_management:
            extensions.append(
                {"url": EXT_MOTION_MANAGEMENT, "valueCodeableConcept": {"text": course.motion_management}}
            )
        extensions += [self.dose_delivered(v) for v in course.volumes]
        summary: Json = {
            "resourceType": "Procedure",
            "id": self.course_id,
            "meta": {"profile": [PROFILE_CODEXRT_COURSE_SUMMARY, PROFILE_COURSE_SUMMARY]},
            "extension": extensions,
            "basedOn": based_on,
            "status": _STATUS[course.status],
            "category": _concept(SNOMED, RADIOTHERAPY_CATEGORY, "Radiotherapy (procedure)"),
            "code": _concept(SNOMED, "1217123003", "Radiotherapy course of treatment (regime/therapy)"),
            "subject": self.subject(),
        }
        if course.name:
            summary["identifier"] = [{"use": "usual", "system": COURSE_ID_SYSTEM, "value": course.name}]
        if course.status_reason:
            summary["statusReason"] = _from_coding(course.status_reason)
        period = _period(course.start, course.end)
        if period:
            summary["performedPeriod"] = period
        if treating:
            summary["performer"] = [{"actor": {"reference": treating}}]
        if conditions:
            summary["reasonReference"] = [{"reference": c} for c in conditions]
        sites = [c for site in course.body_sites if (c := _from_coding(site)) is not None]
        if sites and course.laterality:
            sites[0]["extension"] = [{"url": EXT_LATERALITY, "valueCodeableConcept": _laterality(course.laterality)}]
        if sites:
            summary["bodySite"] = sites
        if self.case.notes:
            summary["note"] = [_annotation(n.text, n.author, n.written) for n in self.case.notes]
        return _drop_empty(summary)

    def volume(self, volume: TargetVolume) -> str:
        """A CodeX Volume (BodyStructure), shared by the course and its phases."""
        key = (
            volume.name,
            volume.site.model_dump_json() if volume.site else None,
            volume.laterality,
            volume.volume_type,
            volume.boost,
        )
        if key in self.volume_ids:
            return self.volume_ids[key]
        body: Json = {
            "resourceType": "BodyStructure",
            "id": self.rid("volume", str(len(self.volume_ids))),
            "meta": {"profile": [PROFILE_CODEXRT_VOLUME, PROFILE_VOLUME]},
            "identifier": [{"use": "usual", "system": VOLUME_ID_SYSTEM, "value": volume.name}],
            "patient": self.subject(),
        }
        if volume.boost and "boost" not in volume.name.lower():
            body["description"] = "boost"
        if volume.volume_type:
            code = CODE_BY_VOLUME_TYPE.get(volume.volume_type)
            body["morphology"] = _concept(SNOMED, code) if code else {"text": volume.volume_type}
        if volume.site:
            body["location"] = _from_coding(volume.site)
        if volume.laterality:
            body["locationQualifier"] = [_laterality(volume.laterality)]
        reference = self.add(body)
        self.volume_ids[key] = reference
        return reference

    def dose_delivered(self, volume: TargetVolume, *, reference: Json | None = None) -> Json:
        """mCODE dose-delivered-to-volume: relative sub-extension urls, ``totalDoseDelivered`` in cGy."""
        parts: list[Json] = [{"url": "volume", "valueReference": reference or {"reference": self.volume(volume)}}]
        if volume.total_dose_gy is not None:
            parts.append({"url": "totalDoseDelivered", "valueQuantity": _cgy(volume.total_dose_gy)})
        if volume.fractions_delivered is not None:
            parts.append({"url": "fractionsDelivered", "valueUnsignedInt": volume.fractions_delivered})
        if _uniform(volume.total_dose_gy, volume.dose_per_fraction_gy, volume.fractions_delivered):
            parts.append({"url": EXT_UNIFORM_FRACTIONATION, "valueBoolean": True})
        elif volume.total_dose_gy and volume.fractions_delivered and volume.dose_per_fraction_gy is None:
            parts.append({"url": EXT_UNIFORM_FRACTIONATION, "valueBoolean": False})  # a re-planned course's total
        return {"url": EXT_DOSE_DELIVERED, "extension": parts}

    def dose_planned(self, volume: TargetVolume) -> Json | None:
        """CodeX dose-planned-to-volume: the prescription (total, fractions, dose per fraction)."""
        parts: list[Json] = [{"url": "volume", "valueReference": {"reference": self.volume(volume)}}]
        if volume.dose_per_fraction_gy is not None:
            parts.append({"url": "fractionDose", "valueQuantity": _cgy(volume.dose_per_fraction_gy)})
        if volume.planned_total_dose_gy is not None:
            parts.append({"url": "totalDose", "valueQuantity": _cgy(volume.planned_total_dose_gy)})
        if volume.fractions_planned is not None:
            parts.append({"url": "fractions", "valuePositiveInt": volume.fractions_planned})
        return {"url": EXT_DOSE_PLANNED, "extension": parts} if len(parts) > 1 else None

    def planned_course(self, course: Course) -> str:
        planned = [e for v in course.volumes if (e := self.dose_planned(v)) is not None]
        return self.add(
            _drop_empty(
                {
                    "resourceType": "ServiceRequest",
                    "id": self.rid("planned-course"),
                    "meta": {"profile": [PROFILE_PLANNED_COURSE]},
                    "extension": planned,
                    "status": "completed",
                    "intent": "filler-order",
                    "category": [_concept(SNOMED, RADIOTHERAPY_CATEGORY, "Radiotherapy (procedure)")],
                    "code": _concept(SNOMED, "1217123003", "Radiotherapy course of treatment (regime/therapy)"),
                    "subject": self.subject(),
                }
            )
        )

    def phase(self, phase: Phase, i: int, summary_ref: str) -> None:
        """CodeX TreatedPhase (partOf the summary) and, when there is a prescription, its PlannedPhase."""
        planned = [e for v in phase.volumes if (e := self.dose_planned(v)) is not None]
        based_on = []
        if planned or phase.fractions_planned is not None:
            extensions = list(planned)
            if phase.fractions_planned is not None:
                extensions.insert(0, {"url": EXT_FRACTIONS_PLANNED, "valuePositiveInt": phase.fractions_planned})
            based_on.append(
                {
                    "reference": self.add(
                        {
                            "resourceType": "ServiceRequest",
                            "id": self.rid("planned-phase", str(i)),
                            "meta": {"profile": [PROFILE_PLANNED_PHASE]},
                            "extension": extensions,
                            "status": "completed",
                            "intent": "filler-order",
                            "code": _concept(
                                SNOMED, TREATED_PHASE_CODE, "Radiotherapy treatment phase (regime/therapy)"
                            ),
                            "subject": self.subject(),
                        }
                    )
                }
            )
        extensions = []
        if phase.modality or phase.technique:
            extensions.append(_modality_and_technique(phase.modality, phase.technique, None))
        if phase.fractions_delivered is not None:
            extensions.append({"url": EXT_FRACTIONS_DELIVERED, "valueUnsignedInt": phase.fractions_delivered})
        extensions += [self.dose_delivered(v) for v in phase.volumes]
        procedure: Json = {
            "resourceType": "Procedure",
            "id": self.rid("phase", f"{i:02d}"),
            "meta": {"profile": [PROFILE_TREATED_PHASE]},
            "extension": extensions,
            "basedOn": based_on,
            "partOf": [{"reference": summary_ref}],
            "status": _STATUS[phase.status],
            "category": _concept(SNOMED, RADIOTHERAPY_CATEGORY, "Radiotherapy (procedure)"),
            "code": _concept(SNOMED, TREATED_PHASE_CODE, "Radiotherapy treatment phase (regime/therapy)"),
            "subject": self.subject(),
        }
        if phase.name:
            procedure["identifier"] = [{"use": "usual", "system": PHASE_ID_SYSTEM, "value": phase.name}]
        if phase.status_reason:
            procedure["statusReason"] = _from_coding(phase.status_reason)
        period = _period(phase.start, phase.end)
        if period:
            procedure["performedPeriod"] = period
        self.add(_drop_empty(procedure))

    def brachytherapy(self, brachy: Brachytherapy, course: Course, summary_ref: str) -> None:
        """Brachytherapy details: a Procedure (SNOMED 152198000) partOf the course summary, CodeX isotope and
        applicator on its modality extension, one dose-to-volume without a BodyStructure."""
        parts: list[Json] = [{"url": EXT_MODALITY, "valueCodeableConcept": _brachy_modality(brachy.dose_rate)}]
        if brachy.source_isotope:
            code = CODE_BY_ISOTOPE.get(brachy.source_isotope)
            concept = _concept(SNOMED, code) if code else {"text": brachy.source_isotope}
            parts.append({"url": EXT_ENERGY_OR_ISOTOPE, "valueCodeableConcept": concept})
        if brachy.applicator:
            parts.append({"url": EXT_APPLICATOR, "valueCodeableConcept": {"text": brachy.applicator}})
        extensions: list[Json] = [{"url": EXT_MODALITY_AND_TECHNIQUE, "extension": parts}]
        if brachy.total_dose_gy is not None or brachy.fractions is not None:
            volume = TargetVolume(
                name="brachytherapy",
                total_dose_gy=brachy.total_dose_gy,
                dose_per_fraction_gy=brachy.dose_per_fraction_gy,
                fractions_delivered=brachy.fractions,
            )
            extensions.append(self.dose_delivered(volume, reference={"display": "brachytherapy"}))
        procedure: Json = {
            "resourceType": "Procedure",
            "id": self.rid("brachytherapy"),
            "extension": extensions,
            "partOf": [{"reference": summary_ref}],
            "status": _STATUS[course.status],
            "category": _concept(SNOMED, RADIOTHERAPY_CATEGORY, "Radiotherapy (procedure)"),
            "code": _concept(SNOMED, BRACHYTHERAPY_PROCEDURE_CODE, "Brachytherapy (procedure)"),
            "subject": self.subject(),
        }
        if brachy.text:
            procedure["note"] = [{"text": brachy.text}]
        self.add(procedure)

    # --- history ----------------------------------------------------------------------------------------------------

    def surgery(self, surgery: Surgery, i: int) -> None:
        procedure: Json = {
            "resourceType": "Procedure",
            "id": self.rid("surgery", str(i)),
            "meta": {"profile": [PROFILE_SURGERY]},
            "status": "completed",
            "category": _concept(SNOMED, SURGICAL_CATEGORY, "Surgical procedure"),
            "code": _from_coding(surgery.code, surgery.text) or {"text": surgery.text},
            "subject": self.subject(),
        }
        if surgery.performed:
            procedure["performedDateTime"] = surgery.performed.isoformat()
        self.add(procedure)

    def therapy(self, therapy: SystemicTherapy, i: int, summary_ref: str | None) -> None:
        """mCODE CancerRelatedMedicationAdministration; without dates a MedicationRequest (effective[x] is 1..1)."""
        resource: Json = {"id": self.rid("medication", str(i)), "subject": self.subject()}
        if len(therapy.agents) == 1:
            resource["medicationCodeableConcept"] = {"text": therapy.agents[0]}
        else:
            medication: Json = {"resourceType": "Medication", "id": "regimen"}
            if therapy.agents:
                medication["ingredient"] = [{"itemCodeableConcept": {"text": agent}} for agent in therapy.agents]
            resource["contained"] = [medication]
            resource["medicationReference"] = {"reference": "#regimen"}
        if therapy.cycles is not None:
            resource["extension"] = [{"url": EXT_TREATMENT_CYCLES, "valueUnsignedInt": therapy.cycles}]
        if therapy.text:
            resource["note"] = [{"text": therapy.text}]
        period = _period(therapy.start, therapy.end)
        if period:
            resource.update(resourceType="MedicationAdministration", status="completed", effectivePeriod=period)
            resource["meta"] = {"profile": [PROFILE_MED_ADMIN]}
            if therapy.dose:
                resource["dosage"] = {"text": therapy.dose}
            if summary_ref:
                resource["partOf"] = [{"reference": summary_ref}]
        else:
            resource.update(resourceType="MedicationRequest", status="completed", intent="order")
            if therapy.dose:
                resource["dosageInstruction"] = [{"text": therapy.dose}]
            if summary_ref:
                resource["supportingInformation"] = [{"reference": summary_ref}]
        self.add(resource)

    def prior_radiotherapy(self, prior: PriorRadiotherapy, i: int) -> None:
        """Radiotherapy from elsewhere: Procedure SNOMED 108290001, region in bodySite.text, mCODE dose-to-volume."""
        procedure: Json = {
            "resourceType": "Procedure",
            "id": self.rid("prior-radiotherapy", str(i)),
            "status": "completed",
            "category": _concept(SNOMED, RADIOTHERAPY_CATEGORY, "Radiotherapy (procedure)"),
            "code": _concept(SNOMED, PRIOR_RADIOTHERAPY_CODE, "Radiation oncology AND/OR radiotherapy (procedure)"),
            "subject": self.subject(),
        }
        if prior.region:
            procedure["bodySite"] = [{"text": prior.region}]
        if prior.total_dose_gy is not None or prior.fractions is not None:
            volume = TargetVolume(
                name=prior.region or "prior", total_dose_gy=prior.total_dose_gy, fractions_delivered=prior.fractions
            )
            procedure["extension"] = [self.dose_delivered(volume, reference={"display": prior.region or "prior"})]
        period = _period(prior.start, prior.end)
        if period:
            procedure["performedPeriod"] = period
        if prior.text:
            procedure["note"] = [{"text": prior.text}]
        self.add(procedure)

    # --- course events ----------------------------------------------------------------------------------------------

    def adverse_event(self, toxicity: Toxicity, i: int, summary_ref: str) -> None:
        """CodeX RT AdverseEvent; CTCAE grade as the AE research IG's ae-grade (NCIt), severity as sent."""
        event: Json = {
            "resourceType": "AdverseEvent",
            "id": self.rid("adverse-event", str(i)),
            "meta": {"profile": [PROFILE_ADVERSE_EVENT]},
            "actuality": "actual",
            "event": _from_coding(toxicity.code, toxicity.term) or {"text": toxicity.term},
            "subject": self.subject(),
            "suspectEntity": [{"instance": {"reference": summary_ref}}],
        }
        extensions = []
        if toxicity.grade is not None:
            extensions.append(
                {
                    "url": EXT_AE_GRADE,
                    "valueCodeableConcept": {
                        "coding": [{"system": NCIT, "code": CODE_BY_AE_GRADE[toxicity.grade]}],
                        "text": f"Grade {toxicity.grade}",
                    },
                }
            )
        if toxicity.severity:
            severity = (
                _concept(AE_SEVERITY, toxicity.severity, toxicity.severity)
                if toxicity.severity in _SEVERITIES
                else {"text": toxicity.severity}
            )
            extensions.append({"url": EXT_AE_SEVERITY, "valueCodeableConcept": severity})
        if extensions:
            event["extension"] = extensions
        if toxicity.onset:
            event["date"] = toxicity.onset.isoformat()
        self.add(event)

    def interruption(self, interruption: Interruption, i: int, summary_ref: str) -> None:
        """No standard profile: an Observation (code rt-events#interruption) partOf/focus the course summary."""
        observation: Json = {
            "resourceType": "Observation",
            "id": self.rid("interruption", str(i)),
            "partOf": [{"reference": summary_ref}],
            "status": "final",
            "code": _concept(RTLETTER_CS, INTERRUPTION_CODE, "Radiotherapy interruption"),
            "subject": self.subject(),
            "focus": [{"reference": summary_ref}],
        }
        period = _period(interruption.start, interruption.end)
        if period:
            observation["effectivePeriod"] = period
        if interruption.days is not None:
            observation["valueQuantity"] = {"value": interruption.days, "unit": "d", "system": UCUM, "code": "d"}
        if interruption.reason:
            observation["note"] = [{"text": interruption.reason}]
        self.add(observation)

    def performance_status(self, status: PerformanceStatus, i: int) -> None:
        """mCODE ECOG (LOINC 89247-1) / Karnofsky (LOINC 89243-0) performance status."""
        ecog = status.scale == "ECOG"
        observation: Json = {
            "resourceType": "Observation",
            "id": self.rid("performance-status", str(i)),
            "meta": {"profile": [PROFILE_ECOG if ecog else PROFILE_KARNOFSKY]},
            "status": "final",
            "category": [_concept(OBSERVATION_CATEGORY, "survey")],
            "code": _concept(LOINC, ECOG_LOINC if ecog else KARNOFSKY_LOINC),
            "subject": self.subject(),
            "valueInteger": status.value,
        }
        if status.observed:
            observation["effectiveDateTime"] = status.observed.isoformat()
        self.add(observation)

    # --- follow-up --------------------------------------------------------------------------------------------------

    def appointment(self, appointment: Appointment, i: int) -> None:
        """Appointment: a time is an instant (booked, local zone offset); a date alone a proposed requestedPeriod."""
        resource: Json = {
            "resourceType": "Appointment",
            "id": self.rid("appointment", str(i)),
            "serviceType": [{"text": appointment.kind}],
            "participant": [{"actor": self.subject(), "status": "accepted"}],
        }
        if isinstance(appointment.when, datetime):
            when = appointment.when
            if when.tzinfo is None:
                when = when.replace(tzinfo=self.time_zone)
            resource.update(status="booked", start=when.isoformat(), end=when.isoformat())
        else:
            day = appointment.when.isoformat()
            resource.update(status="proposed", requestedPeriod=[{"start": day, "end": day}])
        if appointment.text:
            resource["description"] = appointment.text
        self.add(resource)

    def care_plan(self, recommendations: list[str], conditions: list[str]) -> None:
        """Recommendations (Procedere): one CarePlan, one activity per recommendation (detail.description)."""
        plan: Json = {
            "resourceType": "CarePlan",
            "id": self.rid("care-plan"),
            "status": "active",
            "intent": "plan",
            "category": [_concept(SNOMED, CARE_PLAN_CATEGORY, "Outpatient care plan")],
            "subject": self.subject(),
            "activity": [{"detail": {"status": "not-started", "description": text}} for text in recommendations],
        }
        if conditions:
            plan["addresses"] = [{"reference": c} for c in conditions]
        self.add(plan)


# --- small builders ---------------------------------------------------------------------------------------------------


def _concept(system: str, code: str, display: str | None = None) -> Json:
    coding: Json = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _from_coding(coding: Coding | None, text: str | None = None) -> Json | None:
    """A case Coding as CodeableConcept; short system names become canonical URLs, an empty code only text."""
    if coding is None:
        return {"text": text} if text else None
    concept: Json = {}
    if coding.code:
        item: Json = {"code": coding.code}
        if coding.system:
            item["system"] = SYSTEM_URLS.get(coding.system, coding.system)
        if coding.display:
            item["display"] = coding.display
        concept["coding"] = [item]
    elif coding.display:
        concept["text"] = coding.display
    if text:
        concept["text"] = text
    return concept or None


def _name(given: str | None, family: str | None, prefix: str | None) -> Json | None:
    name: Json = {"use": "official"}
    if family:
        name["family"] = family
    if given:
        name["given"] = given.split()
    if prefix:
        name["prefix"] = [prefix]
    return name if len(name) > 1 else None


def _laterality(laterality: str) -> Json:
    code = CODE_BY_LATERALITY.get(laterality)
    return _concept(SNOMED, code) if code else {"text": laterality}


def _modality_and_technique(modality: str | None, technique: str | None, energy: str | None) -> Json:
    """mCODE modality-and-technique (modality 1..1: a null flavor when only the technique is known)."""
    if modality:
        code = CODE_BY_MODALITY.get(modality)
        concept = _concept(SNOMED, code) if code else {"text": modality}
    else:
        concept = _concept(NULL_FLAVOR, "UNK")
    parts: list[Json] = [{"url": EXT_MODALITY, "valueCodeableConcept": concept}]
    if technique:
        code = CODE_BY_TECHNIQUE.get(technique)
        parts.append(
            {"url": EXT_TECHNIQUE, "valueCodeableConcept": _concept(SNOMED, code) if code else {"text": technique}}
        )
    if energy:
        value = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(MV|MeV|kV)", energy)
        if value:
            quantity = {"value": float(value.group(1)), "unit": value.group(2), "system": UCUM, "code": value.group(2)}
            parts.append({"url": EXT_ENERGY_OR_ISOTOPE, "valueQuantity": quantity})
        else:
            parts.append({"url": EXT_ENERGY_OR_ISOTOPE, "valueCodeableConcept": {"text": energy}})
    return {"url": EXT_MODALITY_AND_TECHNIQUE, "extension": parts}


def _brachy_modality(dose_rate: str | None) -> Json:
    if not dose_rate:
        return _concept(NULL_FLAVOR, "UNK")
    concept: Json = {"text": dose_rate}
    if dose_rate == "HDR":
        concept["coding"] = [{"system": SNOMED, "code": "394902000", "display": "High dose brachytherapy"}]
    return concept


def _cgy(gy: float) -> Json:
    """mCODE: dose quantities in cGy (UCUM)."""
    value = round(gy * 100, 4)
    return {"value": int(value) if value == int(value) else value, "unit": "cGy", "system": UCUM, "code": "cGy"}


def _uniform(total: float | None, per_fraction: float | None, fractions: int | None) -> bool:
    return bool(total and per_fraction and fractions and abs(per_fraction * fractions - total) < 0.005)


def _period(start: date | None, end: date | None) -> Json | None:
    period = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
    return period or None


def _annotation(text: str, author: str | None, written: date | None) -> Json:
    annotation: Json = {"text": text}
    if author:
        annotation["authorString"] = author
    if written:
        annotation["time"] = written.isoformat()
    return annotation


def _drop_empty(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if v not in ([], None, {})}
