"""What surrounds the course: systemic therapy, surgery, performance status, toxicity, interruptions, follow-up, notes.

mCODE: CancerRelatedMedicationAdministration/Request, CancerRelatedSurgicalProcedure, ECOG/Karnofsky Observations.
CodeX RT: AdverseEvent with the AE research IG's ``ae-grade``/``ae-severity``. Interruptions, recommendations and the
referral have no mCODE profile; where rtletter puts them is documented in docs/fhir-mapping.md.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.medication import Medication
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

from rtletter.mappers.case import (
    Appointment,
    Course,
    Interruption,
    Note,
    PerformanceStatus,
    Surgery,
    SystemicTherapy,
    Toxicity,
)
from rtletter.mappers.codes import (
    AE_GRADE_BY_CODE,
    ECOG_LOINC,
    FOLLOW_UP_CODE,
    INTERRUPTION_CODE,
    KARNOFSKY_LOINC,
    LOINC,
    RTLETTER_CS,
)
from rtletter.mappers.fhir.index import (
    BundleIndex,
    Inputs,
    as_date,
    case_coding,
    codings,
    concept_text,
    extension,
    has_code,
    has_profile,
)
from rtletter.mappers.fhir.profiles import (
    EXT_AE_GRADE,
    EXT_AE_SEVERITY,
    EXT_TREATMENT_CYCLES,
    PROFILE_ECOG,
    PROFILE_KARNOFSKY,
)
from rtletter.mappers.toxicity import clean_term, grade_from_text, is_toxicity_system, names_toxicity

# --- systemic therapy -----------------------------------------------------------------------------------------------


def map_systemic_therapy(
    course: Course, summaries: set[str], patient_key: str, index: BundleIndex, inputs: Inputs
) -> tuple[list[SystemicTherapy], list[SystemicTherapy]]:
    """(before the course, concurrent). Concurrent: ``partOf`` this course summary, or given during the course."""
    before: list[SystemicTherapy] = []
    concurrent: list[SystemicTherapy] = []
    resources: list[MedicationAdministration | MedicationRequest] = [
        *index.about(MedicationAdministration, patient_key),
        *index.about(MedicationRequest, patient_key),
    ]
    for resource in resources:
        therapy = _therapy(resource, index)
        # MedicationAdministration.partOf; MedicationRequest has no partOf, rtletter uses supportingInformation
        links = getattr(resource, "partOf", None) or getattr(resource, "supportingInformation", None) or []
        part_of = {_key_of(index, r) for r in links} & summaries
        if part_of:
            therapy.concurrent = f"Procedure/{course.id}" in part_of
        else:
            therapy.concurrent = _overlaps(therapy, course)
        if therapy.concurrent:
            concurrent.append(therapy)
        elif therapy.start is None or course.start is None or therapy.start <= course.start:
            before.append(therapy)
        else:
            continue
        therapy.source = inputs.use(resource)
    return before, concurrent


def _key_of(index: BundleIndex, reference: Reference) -> str:
    target = index.resolve(reference)
    return f"{target.get_resource_type()}/{target.id}" if target is not None else ""


def _overlaps(therapy: SystemicTherapy, course: Course) -> bool:
    if therapy.start is None or course.start is None:
        return False
    course_end = course.end or course.start
    therapy_end = therapy.end or therapy.start
    return bool(therapy.start <= course_end and therapy_end >= course.start)


def _therapy(resource: MedicationAdministration | MedicationRequest, index: BundleIndex) -> SystemicTherapy:
    agents = _agents(resource.medicationCodeableConcept, resource.medicationReference, resource, index)
    cycles = extension(resource, EXT_TREATMENT_CYCLES)
    therapy = SystemicTherapy(
        agents=agents,
        cycles=cycles.valueUnsignedInt if cycles is not None else None,
        text=_note_text(resource.note),
    )
    if isinstance(resource, MedicationAdministration):
        therapy.dose = resource.dosage.text if resource.dosage else None
        if resource.effectivePeriod is not None:
            therapy.start = as_date(resource.effectivePeriod.start)
            therapy.end = as_date(resource.effectivePeriod.end)
        else:
            therapy.start = therapy.end = as_date(resource.effectiveDateTime)
    else:
        instruction = resource.dosageInstruction[0] if resource.dosageInstruction else None
        therapy.dose = instruction.text if instruction else None
        bounds = (
            instruction.timing.repeat.boundsPeriod
            if instruction and instruction.timing and instruction.timing.repeat
            else None
        )
        if bounds is not None:
            therapy.start, therapy.end = as_date(bounds.start), as_date(bounds.end)
        else:
            therapy.start = as_date(resource.authoredOn)
    return therapy


def _agents(
    concept: CodeableConcept | None, reference: Reference | None, container: Resource, index: BundleIndex
) -> list[str]:
    if concept is not None:
        text = concept_text(concept)
        return [text] if text else []
    medication: Resource | None = None
    if reference is not None and reference.reference and reference.reference.startswith("#"):
        wanted = reference.reference[1:]
        medication = next((c for c in getattr(container, "contained", None) or [] if c.id == wanted), None)
    else:
        medication = index.resolve(reference)
    if not isinstance(medication, Medication):
        return [reference.display] if reference is not None and reference.display else []
    names = [t for i in medication.ingredient or [] if (t := concept_text(i.itemCodeableConcept))]
    if not names and (text := concept_text(medication.code)):
        names = [text]
    return names


# --- surgery --------------------------------------------------------------------------------------------------------


def map_surgery(procedure: Procedure, inputs: Inputs) -> Surgery:
    performed = as_date(procedure.performedDateTime)
    if performed is None and procedure.performedPeriod is not None:
        performed = as_date(procedure.performedPeriod.start)
    code = case_coding(procedure.code)
    return Surgery(
        text=(procedure.code.text if procedure.code else None) or (code.display if code else None) or "",
        code=code,
        performed=performed,
        source=inputs.use(procedure),
    )


# --- observations ---------------------------------------------------------------------------------------------------


def map_performance_status(observation: Observation, inputs: Inputs) -> PerformanceStatus | None:
    """mCODE ECOG (LOINC 89247-1) and Karnofsky (LOINC 89243-0) performance status."""
    if has_code(observation.code, {ECOG_LOINC}) or has_profile(observation, {PROFILE_ECOG}):
        scale = "ECOG"
    elif has_code(observation.code, {KARNOFSKY_LOINC}) or has_profile(observation, {PROFILE_KARNOFSKY}):
        scale = "Karnofsky"
    else:
        return None
    value = observation.valueInteger
    if value is None:
        text = concept_text(observation.valueCodeableConcept) or ""
        digits = re.match(r"\d+", text)
        value = int(digits.group()) if digits else None
    if value is None:
        return None
    return PerformanceStatus(
        scale="ECOG" if scale == "ECOG" else "Karnofsky",
        value=value,
        observed=as_date(observation.effectiveDateTime),
        source=inputs.use(observation),
    )


def map_interruption(observation: Observation, inputs: Inputs) -> Interruption | None:
    """rtletter interruption Observation (code rt-events#interruption, ``effectivePeriod``, days, reason in note)."""
    if not has_code(observation.code, {INTERRUPTION_CODE}, system=RTLETTER_CS):
        return None
    period = observation.effectivePeriod
    days = observation.valueQuantity.value if observation.valueQuantity else None
    return Interruption(
        start=as_date(period.start) if period else None,
        end=as_date(period.end) if period else None,
        days=int(days) if days is not None else None,
        reason=_note_text(observation.note),
        source=inputs.use(observation),
    )


def map_toxicity_observation(observation: Observation, inputs: Inputs) -> Toxicity | None:
    """An Observation of a toxicity: a category or profile says so, or its code is a CTCAE/MedDRA term, or its code
    or value names a CTCAE term in German or English (SNOMED or text only). The grade comes from valueInteger, an
    NCIt grade concept or text ("CTCAE Grad 2", "Grade II", "G2"); without one the toxicity is kept ungraded."""
    if not _is_toxicity(observation):
        return None
    grade = observation.valueInteger
    if grade is None:
        grade = _grade(observation.valueCodeableConcept)
    if grade is None:
        grade = grade_from_text(observation.valueString) or grade_from_text(concept_text(observation.code))
    term = concept_text(observation.code) or ""
    return Toxicity(
        term=clean_term(term) if term else "",
        grade=grade if grade is None or 1 <= grade <= 5 else None,
        onset=as_date(observation.effectiveDateTime),
        code=case_coding(observation.code),
        source=inputs.use(observation),
    )


def _is_toxicity(observation: Observation) -> bool:
    markers = [concept_text(c) or "" for c in observation.category or []]
    markers += [p for p in (observation.meta.profile or [] if observation.meta else []) if p]  # [null] validates
    if any("toxicity" in m.lower() or "ctcae" in m.lower() for m in markers):
        return True
    code = codings(observation.code)
    if any(is_toxicity_system(c.system) for c in code):
        return True
    if any(c.system == LOINC for c in code):
        return False  # LOINC-coded observations are measurements: staging, the tumour's grade ("G2"), scores
    texts = [
        observation.code.text if observation.code else None,
        *(c.display for c in code),
        observation.valueString,
        concept_text(observation.valueCodeableConcept),
    ]
    return any(names_toxicity(t) for t in texts)


def map_adverse_event(event: AdverseEvent, inputs: Inputs) -> Toxicity:
    """CodeX RT AdverseEvent: ``event`` term, ``ae-grade`` (NCIt CTCAE grade), ``ae-severity`` kept as sent."""
    grade_ext = extension(event, EXT_AE_GRADE)
    severity_ext = extension(event, EXT_AE_SEVERITY)
    severity = concept_text(severity_ext.valueCodeableConcept) if severity_ext else concept_text(event.severity)
    return Toxicity(
        term=concept_text(event.event) or "",
        grade=_grade(grade_ext.valueCodeableConcept) if grade_ext else None,
        severity=severity,
        onset=as_date(event.date) or as_date(event.detected),
        code=case_coding(event.event),
        source=inputs.use(event),
    )


def _grade(concept: CodeableConcept | None) -> int | None:
    for coding in codings(concept):
        if coding.code in AE_GRADE_BY_CODE:
            return int(AE_GRADE_BY_CODE[coding.code])
    text = " ".join(filter(None, [concept.text if concept else None, *(c.display for c in codings(concept))]))
    found: int | None = grade_from_text(text)
    return found


# --- follow-up and notes --------------------------------------------------------------------------------------------


def map_appointment(appointment: FhirAppointment, inputs: Inputs) -> Appointment | None:
    """Appointment: ``start`` (an instant, kept as local wall-clock time) or a date-only ``requestedPeriod``."""
    when: datetime | date | None = None
    if appointment.start is not None:
        when = appointment.start.replace(tzinfo=None)
    elif appointment.requestedPeriod:
        when = as_date(appointment.requestedPeriod[0].start)
    if when is None:
        return None
    kind = concept_text(appointment.serviceType[0]) if appointment.serviceType else None
    kind = kind or concept_text(appointment.appointmentType) or "follow-up"
    return Appointment(when=when, kind=kind, text=appointment.description, source=inputs.use(appointment))


def map_follow_up_request(request: ServiceRequest, inputs: Inputs) -> Appointment | None:
    """A follow-up ServiceRequest (SNOMED 390906007) with an occurrence date."""
    if not has_code(request.code, {FOLLOW_UP_CODE}):
        return None
    when = as_date(request.occurrenceDateTime)
    if when is None and request.occurrencePeriod is not None:
        when = as_date(request.occurrencePeriod.start)
    if when is None:
        return None
    kind = concept_text(request.code) or "follow-up"
    return Appointment(when=when, kind=kind, text=_note_text(request.note), source=inputs.use(request))


def map_recommendations(plan: CarePlan, inputs: Inputs) -> list[tuple[str, str]]:
    """CarePlan activities' ``detail.description``: the letter's recommendations (Procedere), each with the plan as
    its source."""
    found = [a.detail.description for a in plan.activity or [] if a.detail and a.detail.description]
    if not found:
        return []
    source = inputs.use(plan)
    return [(text, source) for text in found]


def map_notes(resource: Procedure, inputs: Inputs) -> list[Note]:
    """``Procedure.note`` of the course summary: free text, kept as quoted data."""
    notes = []
    for annotation in resource.note or []:
        if not annotation.text:
            continue
        author = annotation.authorString or (annotation.authorReference.display if annotation.authorReference else None)
        notes.append(
            Note(text=annotation.text, author=author, written=as_date(annotation.time), source=inputs.use(resource))
        )
    return notes


def _note_text(notes: list[Annotation] | None) -> str | None:
    texts = [n.text for n in notes or [] if n.text]
    return "\n".join(texts) if texts else None
