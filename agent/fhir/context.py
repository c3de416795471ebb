"""Fetch everything one course's letter needs in one or two round trips, then map it to a ``Case``.

Round trip 1 is one ``batch`` Bundle holding
- a search for the course summary by ``_id`` with ``_revinclude`` of its treated phases (``Procedure:part-of``) and
  planned phases (``ServiceRequest:based-on`` of the planned course),
- a read of every resource the course summary refers to, including references held inside extensions (mCODE
  ``mcode-radiotherapy-dose-delivered-to-volume`` -> RadiotherapyVolume BodyStructure), ``reasonReference`` ->
  Condition, ``basedOn`` -> planned course, ``subject``, performers,
- patient-level searches for the history the letter tells (conditions, staging and performance observations,
  procedures, referrals with the referring and copied physicians, encounters and care teams that may name the
  referrer, care plans, systemic therapy, appointments, adverse events), with ``_include:iterate`` from
  PractitionerRole to Practitioner and Organization.
Round trip 2 (only when needed) is one more ``batch`` of reads for references found in round 1 that are still
missing (a phase's own volumes, a Condition named by a staging Observation's ``focus``...).

The result is a ``collection`` Bundle handed to ``rtletter.mappers.fhir.bundle.case_from_bundle``. Resources of
another patient are dropped: a server that ignores an unknown search parameter answers with everything it has (this
is what sekmet-fhir does for ``AdverseEvent`` and ``BodyStructure``, which it cannot search).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rtletter.agent.errors import ChannelRejected
from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.mappers.case import Case

PAGE_SIZE = "200"
MAX_ROUNDS = 2
# Resource types worth following by reference from what round 1 brought (the letter needs nothing else).
FOLLOW_TYPES = {
    "BodyStructure",
    "Condition",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "ServiceRequest",
    "Procedure",
    "Medication",
    "Patient",
    "Observation",
    "Device",
}
# Who did or asked for something: PractitionerRole -> Practitioner + Organization, in the same search.
_PEOPLE = "&_include:iterate=PractitionerRole:practitioner&_include:iterate=PractitionerRole:organization"
# Patient-level searches: (resource type, patient search parameter, extra parameters).
PATIENT_SEARCHES = (
    ("Condition", "subject", ""),
    ("Observation", "subject", ""),
    ("Procedure", "subject", "&_include=Procedure:performer" + _PEOPLE),
    ("ServiceRequest", "subject", "&_include=ServiceRequest:requester&_include=ServiceRequest:performer" + _PEOPLE),
    ("CarePlan", "subject", ""),
    # where else the letter's addressee may be named (mappers.fhir.bundle._referring_physician): no extra round trip
    ("Encounter", "subject", "&_include=Encounter:participant" + _PEOPLE),
    ("CareTeam", "subject", ""),
    ("MedicationAdministration", "subject", ""),
    ("MedicationStatement", "subject", ""),
    ("MedicationRequest", "subject", ""),
    ("Appointment", "patient", ""),
    ("AdverseEvent", "subject", ""),
    ("BodyStructure", "patient", ""),
)
# Elements that point at the patient, for dropping other patients' resources.
PATIENT_ELEMENTS = ("subject", "patient", "for", "beneficiary")


def references(node: Any) -> Iterator[str]:
    """Every literal ``reference`` in a resource, extensions included (``Type/id``, history stripped)."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and "/" in ref and not ref.startswith(("#", "urn:")):
            yield _plain(ref)
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def _plain(ref: str) -> str:
    """``http://x/fhir/Procedure/1/_history/2`` -> ``Procedure/1``."""
    parts = ref.split("/_history/", 1)[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def _key(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def _collect(response: Resource, found: dict[str, Resource]) -> None:
    """Resources of a batch-response: entry resources and, for searches, the resources of the nested searchset."""
    for entry in response.get("entry", []):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "Bundle":
            _collect(resource, found)
        elif resource.get("resourceType") != "OperationOutcome" and resource.get("id"):
            found.setdefault(_key(resource), resource)


def _owner(resource: Resource) -> str | None:
    for element in PATIENT_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            ref = _plain(value["reference"])
            if ref.startswith("Patient/"):
                return ref
    return None


class ContextFetcher:
    """Fetches the context of one course summary; ``fetch_bundle`` is the network part, ``fetch_cases`` maps it."""

    def __init__(self, client: FhirClient, *, patient_history: bool = True) -> None:
        self.client = client
        self.patient_history = patient_history

    def first_batch(self, course: Resource) -> dict[str, Any]:
        course_id = str(course["id"])
        entries = [
            _get(f"Procedure?_id={course_id}&_revinclude=Procedure:part-of&_include=Procedure:based-on"),
        ]
        direct = [ref for ref in dict.fromkeys(references(course)) if ref != f"Procedure/{course_id}"]
        entries += [_get(ref) for ref in direct]
        patient = _owner(course)
        if patient:  # the patient with the GP (generalPractitioner -> PractitionerRole -> Practitioner, Organization)
            entries = [e for e in entries if e["request"]["url"] != patient]
            entries.append(
                _get(
                    f"Patient?_id={patient.split('/', 1)[1]}&_include=Patient:general-practitioner"
                    f"&_include=Patient:organization{_PEOPLE}"
                )
            )
        if self.patient_history and patient:
            entries += [
                _get(f"{rtype}?{param}={patient}&_count={PAGE_SIZE}{extra}") for rtype, param, extra in PATIENT_SEARCHES
            ]
        for ref in direct:  # planned course -> its planned phases (CodeX PlannedPhase basedOn PlannedCourse)
            if ref.startswith("ServiceRequest/"):
                entries.append(_get(f"ServiceRequest?based-on={ref}&_count={PAGE_SIZE}"))
        return {"resourceType": "Bundle", "type": "batch", "entry": entries}

    def fetch_bundle(self, course: Resource | str) -> dict[str, Any]:
        """A ``collection`` Bundle with the course summary (current version) and its context."""
        if isinstance(course, str):
            course = self.client.read("Procedure", course)
        found: dict[str, Resource] = {}
        _collect(self.client.batch(self.first_batch(course)), found)
        current = found.get(_key(course))
        if current is None:
            raise ChannelRejected("context: the course summary is gone from the server", channel="fhir")
        patient = _owner(current)
        for _ in range(MAX_ROUNDS - 1):
            missing = [
                ref
                for resource in list(found.values())
                if _owner(resource) in (None, patient)
                for ref in references(resource)
                if ref not in found and ref.split("/", 1)[0] in FOLLOW_TYPES
            ]
            missing = list(dict.fromkeys(missing))
            if not missing:
                break
            _collect(
                self.client.batch({"resourceType": "Bundle", "type": "batch", "entry": [_get(ref) for ref in missing]}),
                found,
            )
        kept = [r for r in found.values() if _owner(r) in (None, patient)]
        base = self.client.base_url
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"{base}/{_key(r)}", "resource": r} for r in kept],
        }

    def fetch_cases(self, course: Resource | str) -> list[Case]:
        """The case of this course (the mapper may also find other courses of the patient: those are left out)."""
        from rtletter.mappers.fhir import case_from_bundle  # written alongside; imported when used

        bundle = self.fetch_bundle(course)
        course_id = course if isinstance(course, str) else str(course["id"])
        return [case for case in case_from_bundle(bundle) if case.course.id == course_id]
