"""FHIR R4 Bundle -> cases: one ``Case`` per radiotherapy course summary (mCODE STU4 / CodeX RT 2.0).

    case_from_bundle(data) -> list[Case]

The Bundle is validated once with ``fhir.resources.R4B``; everything after works on those models. Unusable input
raises a ``MappingError`` that names the resource type and element, never a value (values are PHI).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from rtletter.mappers.case import Case, Course, FollowUp, Physician
from rtletter.mappers.checks import finish_case
from rtletter.mappers.codes import COURSE_SUMMARY_CODES, REFERRAL_CODE, TREATED_PLAN_CODE
from rtletter.mappers.errors import InvalidValue, MissingElement, UnsupportedInput
from rtletter.mappers.fhir.conditions import map_diagnoses
from rtletter.mappers.fhir.context import (
    map_adverse_event,
    map_appointment,
    map_follow_up_request,
    map_interruption,
    map_notes,
    map_performance_status,
    map_recommendations,
    map_surgery,
    map_systemic_therapy,
    map_toxicity_observation,
)
from rtletter.mappers.fhir.course import (
    Findings,
    is_brachytherapy_detail,
    is_course_summary,
    is_prior_radiotherapy,
    is_treated_phase,
    map_course,
    map_prior_radiotherapy,
    prior_from_course,
)
from rtletter.mappers.fhir.index import BundleIndex, Inputs, as_date, codings, has_code, has_profile, resource_key
from rtletter.mappers.fhir.people import map_patient, map_physician
from rtletter.mappers.fhir.profiles import PROFILE_COURSE_PRESCRIPTION, PROFILE_PLANNED_COURSE, PROFILE_PLANNED_PHASE

__all__ = ["case_from_bundle", "check_nesting", "parse_bundle"]

MAX_STRING_CHARS = 1_048_576  # FHIR R4 datatypes: a string SHALL NOT exceed 1 MB
MAX_DEPTH = 64  # the deepest mCODE/CodeX paths are about 12 levels; far more is hostile input
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')  # never fails, so linear; an unclosed one runs to the end
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def check_nesting(data: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON text nested deeper than ``max_depth`` (arrays and objects, outside strings) before anything is
    built from it: ``json.loads`` would recurse once per level and a Bundle's validation again.

    Raises:
        InvalidValue: nested too deeply (says at which bracket ``max_depth`` was passed, never content).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = _JSON_STRING.sub(b'""', raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for position, byte in enumerate(brackets):
        if byte in b"[{":
            depth += 1
            if depth > max_depth:
                raise InvalidValue(
                    f"JSON nested deeper than {max_depth} levels (bracket {position + 1})",
                    resource="Bundle",
                    element="(document)",
                )
        else:
            depth -= 1


def case_from_bundle(data: bytes | str | dict[str, Any]) -> list[Case]:
    """One case per radiotherapy course summary in the Bundle (collection, searchset, transaction, document, ...).

    Raises:
        UnsupportedInput: not JSON, not a FHIR Bundle, or no course summary in it.
        InvalidValue: an element has the wrong type or an unusable value (e.g. a dose in mg).
        MissingElement: a course summary whose patient does not resolve inside the bundle.
    """
    index = BundleIndex(parse_bundle(data))
    summaries = [p for p in index.of_type(Procedure) if is_course_summary(p)]
    if not summaries:
        raise UnsupportedInput(
            "no radiotherapy course summary (Procedure with SNOMED 1217123003 or USCRS-33529, or the course summary"
            " profile) in the bundle",
            resource="Bundle",
            element="entry",
        )
    mapped = [_map_case(summary, summaries, index) for summary in summaries]
    cases = [case for case, _ in mapped]
    _add_earlier_courses(cases)
    return [finish_case(case, found.not_uniform) for case, found in mapped]


def parse_bundle(data: bytes | str | dict[str, Any]) -> Bundle:
    """JSON (bytes, text or an already decoded dict) -> a validated R4B Bundle."""
    if isinstance(data, dict):
        raw: object = data
    else:
        check_nesting(data)
        try:
            raw = json.loads(data)
        except UnicodeDecodeError as exc:
            raise InvalidValue("input is not UTF-8 JSON", resource="Bundle", element=f"byte {exc.start}") from exc
        except RecursionError as exc:
            raise InvalidValue("JSON nested too deeply", resource="Bundle", element="(document)") from exc
        except json.JSONDecodeError as exc:  # its message would quote the input: keep only the position
            raise UnsupportedInput(
                "input is not valid JSON", resource="Bundle", element=f"line {exc.lineno} column {exc.colno}"
            ) from exc
        except ValueError as exc:
            raise UnsupportedInput("input is not valid JSON", resource="Bundle", element="(document)") from exc
    if not isinstance(raw, dict) or "resourceType" not in raw:
        raise UnsupportedInput("input is not a FHIR resource", resource="Bundle", element="resourceType")
    resource_type = raw["resourceType"]
    if resource_type != "Bundle":
        name = resource_type if isinstance(resource_type, str) and _RESOURCE_TYPE.match(resource_type) else "resource"
        raise UnsupportedInput(f"expected a Bundle, got a {name}", resource=name, element="resourceType")
    if isinstance(data, dict) or len(data) > MAX_STRING_CHARS:  # smaller JSON text cannot hold a longer string
        _screen(raw, 0, "Bundle", [])
    try:
        return Bundle.model_validate(raw)
    except ValidationError as exc:
        raise _translate(exc, raw) from None
    except RecursionError:
        _screen(raw, 0, "Bundle", [])  # names the element that nests too deeply
        raise InvalidValue("resource nested too deeply", resource="Bundle", element="entry") from None
    except (TypeError, ValueError, KeyError, AttributeError, LookupError) as exc:
        # fhir.resources raises these on input its validators did not foresee ("resourceType": null in an entry);
        # their messages may quote the input: keep the type only
        raise InvalidValue(
            f"FHIR validation failed ({type(exc).__name__})", resource="Bundle", element="entry"
        ) from None


def _screen(node: object, depth: int, resource: str, path: list[str]) -> None:
    """Before validation: no string over FHIR's 1 MB, no nesting deeper than any real resource needs."""
    if depth > MAX_DEPTH:
        raise InvalidValue("resource nested too deeply", resource=resource, element=_element(path) or None)
    if isinstance(node, str):
        if len(node) > MAX_STRING_CHARS and (not path or path[-1] != "data"):  # base64Binary may be longer
            raise InvalidValue("string longer than FHIR allows (1 MB)", resource=resource, element=_element(path))
    elif isinstance(node, dict):
        kind = node.get("resourceType")
        if isinstance(kind, str) and depth > 0:
            resource, path = (kind if _RESOURCE_TYPE.match(kind) else "resource"), []
        for key, value in node.items():
            if isinstance(value, dict | list | str):
                path.append(key if isinstance(key, str) and _NAME.match(key) else "?")
                _screen(value, depth + 1, resource, path)
                path.pop()
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict | list | str):
                path.append(f"{path.pop() if path else ''}[{i}]")
                _screen(value, depth + 1, resource, path)
                path[-1] = path[-1].rsplit("[", 1)[0]
        return


def _element(path: list[str]) -> str:
    """The element path, shortened when hostile nesting makes it long."""
    return ".".join(path) if len(path) <= 8 else ".".join([*path[:4], "…", *path[-2:]])


def _translate(exc: ValidationError, raw: dict[str, Any]) -> InvalidValue | MissingElement:
    """A pydantic error -> our error naming resource type and element path; never the input value."""
    error = exc.errors(include_input=False, include_url=False, include_context=False)[0]
    resource, path = "Bundle", list[str]()
    node: Any = raw
    for part in error["loc"]:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        if isinstance(part, int):
            if path:
                path[-1] += f"[{part}]"
            continue
        if part == "resource" and isinstance(node, dict):
            kind = node.get("resourceType")
            resource = kind if isinstance(kind, str) and _RESOURCE_TYPE.match(kind) else "resource"
            path = []
            continue
        path.append(part if _NAME.match(part) else "?")
    if error["type"] == "extra_forbidden" and path:
        path[-1] = "(unknown element)"
    element = _element(path) or None
    if "missing" in error["type"]:
        return MissingElement("required element missing", resource=resource, element=element)
    return InvalidValue(f"invalid value ({error['type']})", resource=resource, element=element)


def _map_case(summary: Procedure, summaries: list[Procedure], index: BundleIndex) -> tuple[Case, Findings]:
    inputs = Inputs()
    patient = index.resolve(summary.subject)
    if not isinstance(patient, FhirPatient):
        raise MissingElement(
            "course summary subject does not resolve to a Patient in the bundle",
            resource="Procedure",
            element="subject",
        )
    patient_key = resource_key(patient)
    found = Findings()
    course = map_course(summary, index, inputs, found)
    case = Case(
        case_id=f"fhir:{summary.id}",
        source_kind="fhir",
        patient=map_patient(patient, inputs),
        course=course,
    )
    case.inputs = []  # filled at the end, in use order
    treating: Resource | None = None
    for performer in summary.performer or []:
        case.treating_physician = map_physician(performer.actor, index, inputs)
        if case.treating_physician is not None:
            treating = _person(index.resolve(performer.actor), index)
            break
    referring = _referring_physician(summary, patient, patient_key, treating, index, inputs)
    case.referring_physician = referring[1] if referring else None
    case.copies_to = [
        p
        for ref in patient.generalPractitioner or []
        if (referring is None or _person(index.resolve(ref), index) is not referring[0])
        and (p := map_physician(ref, index, inputs)) is not None
    ]
    case.diagnoses = map_diagnoses(summary, patient_key, index, inputs)
    summary_keys = {resource_key(s) for s in summaries}
    case.systemic_therapies, course.concurrent_therapy = map_systemic_therapy(
        course, summary_keys, patient_key, index, inputs
    )
    for procedure in index.about(Procedure, patient_key):
        if is_prior_radiotherapy(procedure):
            case.prior_radiotherapy.extend(map_prior_radiotherapy(procedure, inputs))
        elif _is_surgery(procedure):
            case.surgeries.append(map_surgery(procedure, inputs))
    for observation in index.about(Observation, patient_key):
        if (status := map_performance_status(observation, inputs)) is not None:
            case.performance_status.append(status)
        elif (interruption := map_interruption(observation, inputs)) is not None:
            if _focus_matches(observation, summary, index):
                case.interruptions.append(interruption)
        elif (toxicity := map_toxicity_observation(observation, inputs)) is not None:
            case.toxicities.append(toxicity)
    for event in index.about(AdverseEvent, patient_key):
        suspects = {resource_key(t) for s in event.suspectEntity or [] if (t := index.resolve(s.instance))}
        if not suspects & summary_keys or resource_key(summary) in suspects:
            case.toxicities.append(map_adverse_event(event, inputs))
    follow_up = FollowUp()
    for appointment in _patient_appointments(index, patient_key):
        if (mapped := map_appointment(appointment, inputs)) is not None:
            follow_up.appointments.append(mapped)
    for request in index.about(ServiceRequest, patient_key):
        if (mapped := map_follow_up_request(request, inputs)) is not None:
            follow_up.appointments.append(mapped)
    for plan in index.about(CarePlan, patient_key):
        for text, source in map_recommendations(plan, inputs):
            follow_up.recommendations.append(text)
            follow_up.recommendation_sources.append(source)
    case.follow_up = follow_up
    case.notes = map_notes(summary, inputs)
    case.language = "en" if (index.language or "de").lower().startswith("en") else "de"
    case.inputs = inputs.as_list()
    case.flags = found.flags
    return case, found


def _patient_appointments(index: BundleIndex, patient_key: str) -> list[FhirAppointment]:
    """Appointments name the patient as a participant, not as ``subject``."""
    found = []
    for appointment in index.of_type(FhirAppointment):
        for participant in appointment.participant or []:
            target = index.resolve(participant.actor)
            if target is not None and resource_key(target) == patient_key:
                found.append(appointment)
                break
    return found


_OWN_REQUEST_PROFILES = frozenset({PROFILE_PLANNED_COURSE, PROFILE_PLANNED_PHASE, PROFILE_COURSE_PRESCRIPTION})
# Encounter.participant.type / CareTeam.participant.role that name the referrer (v3 ParticipationType REF).
_REFERRER = re.compile(r"\b(ref|refer\w*|zuweis\w*|[üu]berweis\w*|einweis\w*)\b", re.IGNORECASE)


def _referring_physician(
    summary: Procedure,
    patient: FhirPatient,
    patient_key: str,
    treating: Resource | None,
    index: BundleIndex,
    inputs: Inputs,
) -> tuple[Resource, Physician] | None:
    """The letter's addressee, first found in this order (``Physician.via`` names where):
    1. ServiceRequest.requester: the patient's referral (SNOMED 3457005), then the course's own requests (basedOn);
    2. Encounter.participant typed as referrer (REF); 3. CareTeam.participant (a referrer role first);
    4. Patient.generalPractitioner; 5. Procedure.performer of the patient's other procedures, latest first.
    The treating physician is never the addressee."""
    requests = list(index.about(ServiceRequest, patient_key))
    referrals = [
        r
        for r in requests
        if has_code(r.code, {REFERRAL_CODE}) or any(has_code(c, {REFERRAL_CODE}) for c in r.category or [])
    ]
    based_on = [  # an order the course is based on; the department's own prescription (CodeX) is not a referral
        r
        for ref in summary.basedOn or []
        if isinstance(r := index.resolve(ref), ServiceRequest)
        and not has_profile(r, _OWN_REQUEST_PROFILES)
        and not has_code(r.code, COURSE_SUMMARY_CODES)
    ]
    candidates: list[tuple[Reference | None, Resource | None, str]] = [
        (r.requester, r, "ServiceRequest.requester") for r in [*referrals, *based_on]
    ]
    for encounter in index.about(Encounter, patient_key):
        for participant in encounter.participant or []:
            if any(_is_referrer(t) for t in participant.type or []):
                candidates.append((participant.individual, encounter, "Encounter.participant"))
    teams = list(index.about(CareTeam, patient_key))
    members = [(p, team) for team in teams for p in team.participant or []]
    members.sort(key=lambda m: not any(_is_referrer(r) for r in m[0].role or []))
    candidates += [(p.member, team, "CareTeam.participant") for p, team in members]
    candidates += [(ref, None, "Patient.generalPractitioner") for ref in patient.generalPractitioner or []]
    others = [p for p in index.about(Procedure, patient_key) if _is_surgery(p)]
    others.sort(
        key=lambda p: str(
            as_date(p.performedDateTime) or (as_date(p.performedPeriod.start) if p.performedPeriod else None) or ""
        ),
        reverse=True,
    )
    candidates += [(f.actor, p, "Procedure.performer") for p in others for f in p.performer or []]
    for reference, holder, via in candidates:
        person = _person(index.resolve(reference), index)
        if person is None or (treating is not None and person is treating):
            continue
        physician = map_physician(reference, index, inputs)
        if physician is None:
            continue
        if holder is not None:
            inputs.use(holder)
        return person, physician.model_copy(update={"via": via})
    return None


def _is_referrer(concept: CodeableConcept) -> bool:
    if any(c.code == "REF" for c in codings(concept)):
        return True
    texts = [concept.text or "", *(c.display or "" for c in codings(concept))]
    return any(_REFERRER.search(t) for t in texts if t)


def _person(target: Resource | None, index: BundleIndex) -> Resource | None:
    """The Practitioner behind a PractitionerRole (else the role itself): one person, however referenced."""
    if isinstance(target, PractitionerRole):
        return index.resolve(target.practitioner) or target
    return target if isinstance(target, Practitioner | PractitionerRole) else None


def _is_surgery(procedure: Procedure) -> bool:
    """Any other Procedure of the patient that is not radiotherapy (mCODE CancerRelatedSurgicalProcedure or not)."""
    radiotherapy = (
        is_course_summary(procedure)
        or is_treated_phase(procedure)
        or is_brachytherapy_detail(procedure)
        or has_code(procedure.code, {TREATED_PLAN_CODE, *COURSE_SUMMARY_CODES})
        or has_code(procedure.category, {"1287742003"})
    )
    return not radiotherapy and procedure.status not in {"entered-in-error", "not-done"}


def _focus_matches(observation: Observation, summary: Procedure, index: BundleIndex) -> bool:
    targets = [index.resolve(r) for r in [*(observation.focus or []), *(observation.partOf or [])]]
    return not targets or any(t is summary for t in targets)


def _add_earlier_courses(cases: list[Case]) -> None:
    """Courses of one patient in one bundle: each earlier course is prior radiotherapy of the later ones (XRTS-05)."""
    for case in cases:
        for other in cases:
            if other is case or other.patient.source != case.patient.source:
                continue
            if _ended_before(other.course, case.course):
                case.prior_radiotherapy.extend(prior_from_course(other.course))


def _ended_before(earlier: Course, later: Course) -> bool:
    if later.start is None:
        return False
    finished = earlier.end or earlier.start
    return finished is not None and finished < later.start
