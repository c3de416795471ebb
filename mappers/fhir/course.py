"""mCODE course summary, CodeX treated phases, planned course/phases and Volumes -> the case's ``Course``.

Course summary (mCODE RadiotherapyCourseSummary, a Procedure): intent, modality/technique, sessions and the dose
delivered per Volume (BodyStructure). CodeX adds re-irradiation, uniform fractionation, image guidance, motion
management, the PlannedCourse (ServiceRequest via ``basedOn``) with the prescribed dose per volume, and TreatedPhases
(Procedures ``partOf`` the summary) with their PlannedPhases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from fhir.resources.R4B.bodystructure import BodyStructure
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

from rtletter.mappers.case import (
    Brachytherapy,
    CaseFlag,
    Coding,
    Course,
    CourseStatus,
    Intent,
    Phase,
    PriorRadiotherapy,
    TargetVolume,
)
from rtletter.mappers.checks import check_counts
from rtletter.mappers.codes import (
    BRACHY_DOSE_RATE_BY_CODE,
    BRACHYTHERAPY_MODALITY_CODES,
    BRACHYTHERAPY_PROCEDURE_CODE,
    COURSE_SUMMARY_CODE,
    COURSE_SUMMARY_CODES,
    COURSE_SUMMARY_TEMPORARY_CODE,
    IMAGE_GUIDANCE_BY_CODE,
    INTENT_BY_CODE,
    ISOTOPE_BY_CODE,
    LATERALITY_BY_CODE,
    MODALITY_BY_CODE,
    NULL_FLAVOR,
    PRIOR_RADIOTHERAPY_CODE,
    SNOMED,
    TECHNIQUE_BY_CODE,
    TREATED_PHASE_CODE,
    VOLUME_TYPE_BY_CODE,
)
from rtletter.mappers.errors import InvalidValue
from rtletter.mappers.fhir.index import (
    BundleIndex,
    Inputs,
    as_date,
    case_coding,
    codings,
    concept_text,
    dose_gy,
    extension,
    extensions,
    has_code,
    has_profile,
    lookup,
)
from rtletter.mappers.fhir.profiles import (
    COURSE_SUMMARY_PROFILES,
    EXT_APPLICATOR,
    EXT_DOSE_DELIVERED,
    EXT_DOSE_PLANNED,
    EXT_DOSE_PRESCRIBED,
    EXT_ENERGY_OR_ISOTOPE,
    EXT_FRACTIONS_DELIVERED,
    EXT_FRACTIONS_PLANNED,
    EXT_IMAGE_GUIDANCE,
    EXT_INTENT,
    EXT_LATERALITY,
    EXT_MODALITY,
    EXT_MODALITY_AND_TECHNIQUE,
    EXT_MOTION_MANAGEMENT,
    EXT_REIRRADIATION,
    EXT_REVISION_REASON,
    EXT_SESSIONS,
    EXT_TECHNIQUE,
    EXT_UNIFORM_FRACTIONATION,
    PROFILE_COURSE_PRESCRIPTION,
    PROFILE_PLANNED_COURSE,
    PROFILE_TREATED_PHASE,
)

_STATUS: dict[str, CourseStatus] = {
    "completed": CourseStatus.completed,
    "stopped": CourseStatus.stopped,
    "in-progress": CourseStatus.in_progress,
    "on-hold": CourseStatus.in_progress,
}
_ENERGY_TEXT = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:k|M)e?V\b")
_UID = re.compile(r"^(urn:oid:)?[0-9][0-9.…]*$")


def is_course_summary(procedure: Procedure) -> bool:
    """mCODE: code SNOMED 1217123003 (older data: USCRS-33529, any system), or a course summary profile whose code
    does not say otherwise (the profile fixes the code: a declared profile with another code is not a course)."""
    if _has_course_code(procedure.code):
        return True
    coded = any(c.code for c in codings(procedure.code))
    return not coded and has_profile(procedure, COURSE_SUMMARY_PROFILES)


def _has_course_code(concept: CodeableConcept | None) -> bool:
    for coding in codings(concept):
        if coding.code == COURSE_SUMMARY_TEMPORARY_CODE:
            return True
        if coding.code == COURSE_SUMMARY_CODE and coding.system in (None, SNOMED):
            return True
    return False


def is_treated_phase(procedure: Procedure) -> bool:
    return bool(has_code(procedure.code, {TREATED_PHASE_CODE}) or has_profile(procedure, {PROFILE_TREATED_PHASE}))


def is_brachytherapy_detail(procedure: Procedure) -> bool:
    """rtletter's brachytherapy Procedure (``partOf`` the course summary, SNOMED 152198000 Brachytherapy)."""
    return bool(procedure.partOf) and has_code(procedure.code, {BRACHYTHERAPY_PROCEDURE_CODE})


def is_prior_radiotherapy(procedure: Procedure) -> bool:
    """Radiotherapy given elsewhere, before this course: SNOMED 108290001 (not a course summary)."""
    return has_code(procedure.code, {PRIOR_RADIOTHERAPY_CODE}) and not is_course_summary(procedure)


@dataclass
class Findings:
    """What mapping a course found besides the course: flags for the reviewer, and the volumes whose fractionation the
    source says is not uniform (CodeX ``uniform-fractionation`` false: no dose per fraction is derived for them)."""

    flags: list[CaseFlag] = field(default_factory=list)
    not_uniform: set[int] = field(default_factory=set)  # id() of the TargetVolume


def map_course(summary: Procedure, index: BundleIndex, inputs: Inputs, found: Findings | None = None) -> Course:
    """The course of one summary. Unknown modality, technique or energy codes go to ``flags``, never into the course;
    an implausible number of phases or volumes raises ``ImplausibleCourse`` before they are mapped."""
    where = "Procedure"
    found = found if found is not None else Findings()
    flags = found.flags
    delivered = extensions(summary, EXT_DOSE_DELIVERED)
    parts = [p for p in index.of_type(Procedure) if any(index.resolve(r) is summary for r in p.partOf or [])]
    phases = [p for p in parts if is_treated_phase(p)]
    check_counts(len(phases), len(delivered), resource="Procedure")
    course = Course(
        id=str(summary.id),
        name=identifier_name(summary.identifier),
        status=_STATUS.get(summary.status or "", CourseStatus.unknown),
        status_reason=reason_coding(summary.statusReason),
        intent=_intent(summary),
        source=inputs.use(summary),
    )
    course.start, course.end = _period(summary)
    for site in summary.bodySite or []:
        coding = case_coding(site)
        if coding is not None:
            course.body_sites.append(coding)
        laterality = extension(site, EXT_LATERALITY)
        if laterality is not None and course.laterality is None:
            course.laterality = lookup(laterality.valueCodeableConcept, LATERALITY_BY_CODE)
    pairs = _modalities(summary, flags)
    course.modalities = _unique(p.modality for p in pairs)
    course.techniques = _unique(p.technique for p in pairs)
    course.energy = next((p.energy for p in pairs if p.energy), None)
    course.image_guidance = _image_guidance(summary) or _image_guidance(_planned(summary, index, inputs))
    course.motion_management = _text_of(extension(summary, EXT_MOTION_MANAGEMENT))
    course.sessions = _integer(extension(summary, EXT_SESSIONS))
    reirradiation = extension(summary, EXT_REIRRADIATION)
    course.reirradiation = reirradiation.valueBoolean if reirradiation is not None else None
    planned = _planned_doses(_planned(summary, index, inputs))
    course.volumes = [_volume(ext, planned, index, inputs, where, found) for ext in delivered]
    phases.sort(key=lambda p: (str(_period(p)[0] or ""), str(p.id)))
    course.phases = [_phase(p, index, inputs, found) for p in phases]
    details = [p for p in parts if is_brachytherapy_detail(p) and not is_treated_phase(p)]
    course.brachytherapy = _brachytherapy_detail(details[0], inputs) if details else _brachytherapy(pairs, course)
    return course


def map_prior_radiotherapy(procedure: Procedure, inputs: Inputs) -> list[PriorRadiotherapy]:
    """Radiotherapy from elsewhere (SNOMED 108290001): region from ``bodySite``, dose from mCODE dose-to-volume."""
    start, end = _period(procedure)
    region = concept_text(procedure.bodySite[0]) if procedure.bodySite else None
    note = procedure.note[0].text if procedure.note else None
    source = inputs.use(procedure)
    where = "Procedure"
    doses = extensions(procedure, EXT_DOSE_DELIVERED)
    if not doses:
        return [PriorRadiotherapy(region=region or "", start=start, end=end, text=note, source=source)]
    prior = []
    for ext in doses:
        volume = extension(ext, "volume")
        prior.append(
            PriorRadiotherapy(
                region=region or (volume.valueReference.display if volume and volume.valueReference else None) or "",
                total_dose_gy=dose_gy(
                    _quantity_of(ext, "totalDoseDelivered"), where=where_ext(where), default_unit="cGy"
                ),
                fractions=_integer(extension(ext, "fractionsDelivered")),
                start=start,
                end=end,
                text=note,
                source=source,
            )
        )
    return prior


def prior_from_course(course: Course) -> list[PriorRadiotherapy]:
    """An earlier course of the same patient in the same bundle, as prior radiotherapy of a later one (XRTS-05)."""
    region = ", ".join(s.display or s.code for s in course.body_sites) or None
    if not course.volumes:
        return [
            PriorRadiotherapy(
                region=region or course.name or course.id, start=course.start, end=course.end, source=course.source
            )
        ]
    return [
        PriorRadiotherapy(
            region=volume.name,
            total_dose_gy=volume.total_dose_gy,
            fractions=volume.fractions_delivered,
            start=course.start,
            end=course.end,
            text=course.name,
            source=course.source,
        )
        for volume in course.volumes
    ]


# --- helpers --------------------------------------------------------------------------------------------------------


@dataclass
class _Pair:
    """One mCODE modality-and-technique extension."""

    modality: str | None
    modality_code: str | None
    technique: str | None
    energy: str | None = None
    isotope: str | None = None
    applicators: list[str] = field(default_factory=list)


@dataclass
class _Planned:
    total_gy: float | None
    fractions: int | None
    per_fraction_gy: float | None


def where_ext(resource: str) -> tuple[str, str]:
    return (resource, "extension")


def identifier_name(identifiers: list[Identifier] | None) -> str | None:
    """A human label from the identifiers (``use=usual``, not a DICOM UID)."""
    values = [i for i in identifiers or [] if i.value and not _UID.match(i.value) and i.system != "urn:dicom:uid"]
    usual = [i for i in values if i.use == "usual"]
    chosen = (usual or values)[:1]
    return chosen[0].value if chosen else None


def reason_coding(concept: CodeableConcept | None) -> Coding | None:
    coding = case_coding(concept)
    if coding is None and concept is not None and concept.text:
        return Coding(code="", display=concept.text)
    if coding is not None and coding.display is None and concept is not None and concept.text:
        coding.display = concept.text
    return coding


def _period(procedure: Procedure) -> tuple[date | None, date | None]:
    if procedure.performedPeriod is not None:
        return as_date(procedure.performedPeriod.start), as_date(procedure.performedPeriod.end)
    performed = as_date(procedure.performedDateTime)
    return performed, performed


def _intent(resource: Procedure) -> Intent:
    ext = extension(resource, EXT_INTENT)
    concept = ext.valueCodeableConcept if ext is not None else None
    for coding in codings(concept):
        if coding.code in INTENT_BY_CODE:
            return INTENT_BY_CODE[coding.code]
    text = (concept_text(concept) or "").strip().lower()
    return Intent(text) if text in Intent.__members__ else Intent.unknown


def _modalities(resource: Procedure, flags: list[CaseFlag]) -> list[_Pair]:
    pairs = []
    for ext in extensions(resource, EXT_MODALITY_AND_TECHNIQUE):
        modality = extension(ext, EXT_MODALITY)
        concept = modality.valueCodeableConcept if modality is not None else None
        modality_code = next((c.code for c in codings(concept) if c.code in MODALITY_BY_CODE), None)
        name = _known(concept, MODALITY_BY_CODE, "modality", flags)
        technique = extension(ext, EXT_TECHNIQUE)
        pair = _Pair(
            modality=None if _is_unknown(concept) else name,
            modality_code=modality_code,
            technique=_known(technique.valueCodeableConcept, TECHNIQUE_BY_CODE, "technique", flags)
            if technique
            else None,
        )
        for energy in extensions(ext, EXT_ENERGY_OR_ISOTOPE):
            if energy.valueQuantity is not None and energy.valueQuantity.value is not None:
                unit = energy.valueQuantity.unit or energy.valueQuantity.code or ""
                pair.energy = f"{energy.valueQuantity.value:f}".rstrip("0").rstrip(".") + (f" {unit}" if unit else "")
            elif energy.valueCodeableConcept is not None:
                name = _known(energy.valueCodeableConcept, ISOTOPE_BY_CODE, "energy or isotope", flags)
                if name and _ENERGY_TEXT.search(name):  # "6 MV FFF": an energy written as text, not an isotope
                    pair.energy = name
                else:
                    pair.isotope = name
        pair.applicators = [
            text for a in extensions(ext, EXT_APPLICATOR) if (text := concept_text(a.valueCodeableConcept))
        ]
        pairs.append(pair)
    return pairs


def _known(concept: CodeableConcept | None, table: dict[str, str], what: str, flags: list[CaseFlag]) -> str | None:
    """The table's name for a known code; text for a concept without codes (or flagged un-encoded, as mCODE's examples
    do). A concept whose codes are all unknown is not a name: it is flagged with its codes and left out."""
    if concept is None:
        return None
    coded = [c for c in codings(concept) if c.code and c.system != NULL_FLAVOR]
    if not coded or any(c.system == NULL_FLAVOR for c in codings(concept)) or any(c.code in table for c in coded):
        name: str | None = lookup(concept, table)
        return name
    if all(c.code == "UNK" for c in coded):
        return None
    detail = ", ".join(f"{c.system or '(no system)'}|{c.code}" for c in coded)
    flags.append(
        CaseFlag(kind="unknown_code", where=f"Procedure.extension ({what})", detail=f"unknown {what} code {detail}")
    )
    return None


def _is_unknown(concept: CodeableConcept | None) -> bool:
    """A data-absent modality (null flavor UNK without text): rtletter writes it when only a technique is known."""
    return concept is not None and not concept.text and all(c.code == "UNK" for c in codings(concept))


def _image_guidance(resource: Resource | None) -> str | None:
    names = []
    for ext in extensions(resource, EXT_IMAGE_GUIDANCE):
        modality = extension(ext, "modality")
        if modality is not None:
            name = lookup(modality.valueCodeableConcept, IMAGE_GUIDANCE_BY_CODE)
            if name:
                names.append(name)
    return ", ".join(_unique(names)) or None


def _text_of(ext: Extension | None) -> str | None:
    return concept_text(ext.valueCodeableConcept) if ext is not None else None


def _integer(ext: Extension | None) -> int | None:
    if ext is None:
        return None
    for value in (ext.valueUnsignedInt, ext.valuePositiveInt, ext.valueInteger):
        if value is not None:
            return int(value)
    return None


def _quantity(ext: Extension, url: str) -> object:
    sub = extension(ext, url)
    return sub.valueQuantity if sub is not None else None


def _planned(summary: Procedure, index: BundleIndex, inputs: Inputs) -> ServiceRequest | None:
    """The CodeX PlannedCourse: the ServiceRequest in ``basedOn`` with the course code or profile."""
    for reference in summary.basedOn or []:
        request = index.resolve(reference)
        if isinstance(request, ServiceRequest) and (
            has_profile(request, {PROFILE_PLANNED_COURSE, PROFILE_COURSE_PRESCRIPTION})
            or has_code(request.code, COURSE_SUMMARY_CODES)
        ):
            inputs.use(request)
            return request
    return None


def _planned_doses(request: ServiceRequest | None) -> dict[str, _Planned]:
    """CodeX dose-planned-to-volume and dose-prescribed-to-volume, by volume reference (planned wins per value)."""
    if request is None:
        return {}
    where = where_ext("ServiceRequest")
    planned: dict[str, _Planned] = {}
    for ext in [*extensions(request, EXT_DOSE_PLANNED), *extensions(request, EXT_DOSE_PRESCRIBED)]:
        volume = extension(ext, "volume")
        if volume is None or volume.valueReference is None:
            continue
        key = _ref_key(volume.valueReference.reference or volume.valueReference.display or "")
        found = _Planned(
            total_gy=dose_gy(_quantity_of(ext, "totalDose"), where=where, default_unit="cGy"),
            fractions=_integer(extension(ext, "fractions")),
            per_fraction_gy=dose_gy(_quantity_of(ext, "fractionDose"), where=where, default_unit="cGy"),
        )
        known = planned.get(key)
        if known is None:
            planned[key] = found
        else:
            known.total_gy = known.total_gy if known.total_gy is not None else found.total_gy
            known.fractions = known.fractions if known.fractions is not None else found.fractions
            known.per_fraction_gy = (
                known.per_fraction_gy if known.per_fraction_gy is not None else found.per_fraction_gy
            )
    return planned


def _quantity_of(ext: Extension, url: str) -> Quantity | None:
    sub = extension(ext, url)
    return sub.valueQuantity if sub is not None else None


def _ref_key(reference: str) -> str:
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def _volume(
    ext: Extension,
    planned: dict[str, _Planned],
    index: BundleIndex,
    inputs: Inputs,
    where: str,
    found: Findings,
) -> TargetVolume:
    """mCODE dose-delivered-to-volume (relative sub-extension urls; totalDoseDelivered fixed to cGy)."""
    volume_ref = extension(ext, "volume")
    reference = volume_ref.valueReference if volume_ref is not None else None
    if reference is None:
        raise InvalidValue("dose-delivered-to-volume without a volume", resource=where, element="extension")
    body = index.resolve(reference)
    total = dose_gy(_quantity_of(ext, "totalDoseDelivered"), where=where_ext(where), default_unit="cGy")
    fractions = _integer(extension(ext, "fractionsDelivered"))
    key = _ref_key(reference.reference or reference.display or "")
    plan = planned.get(key)
    volume = TargetVolume(name=reference.display or key, total_dose_gy=total, fractions_delivered=fractions)
    if isinstance(body, BodyStructure):
        _describe_volume(volume, body, inputs)
    if plan is not None:
        volume.planned_total_dose_gy = plan.total_gy
        volume.fractions_planned = plan.fractions
        volume.dose_per_fraction_gy = plan.per_fraction_gy
    uniform = extension(ext, EXT_UNIFORM_FRACTIONATION)
    if uniform is not None and uniform.valueBoolean is False:
        found.not_uniform.add(id(volume))  # else total / fractions is derived for every mapper by checks.finish_case
    return volume


def _describe_volume(volume: TargetVolume, body: BodyStructure, inputs: Inputs) -> None:
    """CodeX Volume: label from identifier or description, ``location`` site, laterality qualifier, morphology type."""
    volume.name = identifier_name(body.identifier) or body.description or volume.name
    volume.site = case_coding(body.location)
    for qualifier in body.locationQualifier or []:
        for coding in qualifier.coding or []:
            if coding.code in LATERALITY_BY_CODE:
                volume.laterality = LATERALITY_BY_CODE[coding.code]
    volume.volume_type = lookup(body.morphology, VOLUME_TYPE_BY_CODE) if body.morphology else None
    marker = f"{volume.name} {body.description or ''}".lower()
    volume.boost = "boost" in marker or bool(re.search(r"\bsib\b", marker))
    volume.source = inputs.use(body)


def _phase(procedure: Procedure, index: BundleIndex, inputs: Inputs, found: Findings) -> Phase:
    """CodeX TreatedPhase with its PlannedPhase (``basedOn``): fractions planned, prescription, revision reason."""
    where = "Procedure"
    planned_phase = next(
        (r for ref in procedure.basedOn or [] if isinstance(r := index.resolve(ref), ServiceRequest)), None
    )
    planned: dict[str, _Planned] = {}
    fractions_planned = None
    status_reason = reason_coding(procedure.statusReason)
    if planned_phase is not None:
        inputs.use(planned_phase)
        planned = _planned_doses(planned_phase)
        fractions_planned = _integer(extension(planned_phase, EXT_FRACTIONS_PLANNED))
        revision = extension(planned_phase, EXT_REVISION_REASON)
        if status_reason is None and revision is not None:
            status_reason = reason_coding(revision.valueCodeableConcept)
    pairs = _modalities(procedure, found.flags)
    start, end = _period(procedure)
    return Phase(
        name=identifier_name(procedure.identifier),
        status=_STATUS.get(procedure.status or "", CourseStatus.unknown),
        start=start,
        end=end,
        fractions_delivered=_integer(extension(procedure, EXT_FRACTIONS_DELIVERED)),
        fractions_planned=fractions_planned,
        status_reason=status_reason,
        modality=", ".join(_unique(p.modality for p in pairs)) or None,
        technique=", ".join(_unique(p.technique for p in pairs)) or None,
        volumes=[_volume(e, planned, index, inputs, where, found) for e in extensions(procedure, EXT_DOSE_DELIVERED)],
        source=inputs.use(procedure),
    )


def _brachytherapy(pairs: list[_Pair], course: Course) -> Brachytherapy | None:
    """From the course's brachytherapy modality (CodeX: isotope and applicators ride on the modality extension).
    Doses only when the whole course is brachytherapy with one volume: else which volume it treated is unknown."""
    brachy = [p for p in pairs if p.modality_code in BRACHYTHERAPY_MODALITY_CODES or p.isotope or p.applicators]
    if not brachy:
        return None
    result = Brachytherapy(
        source_isotope=next((p.isotope for p in brachy if p.isotope), None),
        dose_rate=next(
            (BRACHY_DOSE_RATE_BY_CODE[p.modality_code] for p in brachy if p.modality_code in BRACHY_DOSE_RATE_BY_CODE),
            None,
        ),
        applicator=", ".join(_unique(a for p in brachy for a in p.applicators)) or None,
    )
    if len(brachy) == len(pairs) and len(course.volumes) == 1:
        volume = course.volumes[0]
        result.total_dose_gy = volume.total_dose_gy
        result.fractions = volume.fractions_delivered
        result.dose_per_fraction_gy = volume.dose_per_fraction_gy
    return result


def _brachytherapy_detail(procedure: Procedure, inputs: Inputs) -> Brachytherapy:
    """rtletter's brachytherapy Procedure: modality text = dose rate, isotope, applicator, one dose-to-volume."""
    where = "Procedure"
    inputs.use(procedure)
    result = Brachytherapy(text=procedure.note[0].text if procedure.note else None)
    for ext in extensions(procedure, EXT_MODALITY_AND_TECHNIQUE):
        modality = extension(ext, EXT_MODALITY)
        concept = modality.valueCodeableConcept if modality is not None else None
        if concept is not None and not _is_unknown(concept):  # rtletter's own detail: its text is the dose rate
            result.dose_rate = concept.text or next(
                (BRACHY_DOSE_RATE_BY_CODE[c.code] for c in codings(concept) if c.code in BRACHY_DOSE_RATE_BY_CODE), None
            )
        isotope = extension(ext, EXT_ENERGY_OR_ISOTOPE)
        if isotope is not None:
            result.source_isotope = lookup(isotope.valueCodeableConcept, ISOTOPE_BY_CODE)
        applicator = extension(ext, EXT_APPLICATOR)
        if applicator is not None:
            result.applicator = concept_text(applicator.valueCodeableConcept)
    for ext in extensions(procedure, EXT_DOSE_DELIVERED):
        result.total_dose_gy = dose_gy(
            _quantity_of(ext, "totalDoseDelivered"), where=where_ext(where), default_unit="cGy"
        )
        result.fractions = _integer(extension(ext, "fractionsDelivered"))
        uniform = extension(ext, EXT_UNIFORM_FRACTIONATION)
        if uniform is not None and uniform.valueBoolean and result.total_dose_gy and result.fractions:
            result.dose_per_fraction_gy = round(result.total_dose_gy / result.fractions, 2)
    return result


def _unique(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)


__all__ = [
    "Findings",
    "identifier_name",
    "is_brachytherapy_detail",
    "is_course_summary",
    "is_prior_radiotherapy",
    "is_treated_phase",
    "map_course",
    "map_prior_radiotherapy",
    "prior_from_course",
    "reason_coding",
]
