"""The parsed Bundle as an index: resolve references, find resources of a patient, read extensions and quantities.

Shared by the ``fhir_*`` modules. Works on the validated ``fhir.resources.R4B`` models, never re-validates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding as FhirCoding
from fhir.resources.R4B.element import Element
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from rtletter.mappers.case import Coding
from rtletter.mappers.codes import NULL_FLAVOR, UNITS_TO_GY
from rtletter.mappers.errors import InvalidValue

R = TypeVar("R", bound=Resource)

_HISTORY = re.compile(r"/_history/[^/]+$")


def resource_key(resource: Resource) -> str:
    """``Type/id``: how resources refer to each other inside a bundle."""
    return f"{resource.get_resource_type()}/{resource.id}"


def resource_ref(resource: Resource) -> str:
    """``Type/id/_history/versionId`` (or ``Type/id``): the version used, for ``Case.inputs`` and ``source``."""
    version = resource.meta.versionId if resource.meta else None
    return f"{resource_key(resource)}/_history/{version}" if version else resource_key(resource)


class BundleIndex:
    """The resources of one Bundle, by ``Type/id`` and by ``fullUrl``."""

    def __init__(self, bundle: Bundle) -> None:
        self.by_key: dict[str, Resource] = {}
        self.by_url: dict[str, Resource] = {}
        self.language = bundle.language
        for entry in bundle.entry or []:
            resource = entry.resource
            if resource is None or not resource.id:
                if resource is not None and entry.fullUrl:  # transaction entries may only have a urn:uuid fullUrl
                    self.by_url[entry.fullUrl] = resource
                continue
            key = resource_key(resource)
            known = self.by_key.get(key)
            if known is None or _version(resource) > _version(known):  # history bundles: keep the newest version
                self.by_key[key] = resource
            if entry.fullUrl:
                self.by_url[entry.fullUrl] = resource
        self.resources: list[Resource] = list(self.by_key.values())
        self.resources.extend(r for r in self.by_url.values() if not r.id)

    def resolve(self, reference: Reference | None) -> Resource | None:
        """The resource a reference points to inside the bundle (relative, absolute, urn:uuid or versioned)."""
        if reference is None or not reference.reference:
            return None
        ref = reference.reference
        if ref.startswith("#"):
            return None  # contained resources are read by their container
        found = self.by_url.get(ref)
        if found is not None:
            return found
        ref = _HISTORY.sub("", ref)
        parts = ref.rstrip("/").split("/") if ref else []
        if len(parts) >= 2:
            return self.by_key.get(f"{parts[-2]}/{parts[-1]}")
        return None

    def of_type(self, cls: type[R]) -> Iterator[R]:
        for resource in self.resources:
            if isinstance(resource, cls):
                yield resource

    def subject_key(self, resource: Resource) -> str | None:
        """The ``Type/id`` of the patient a resource is about (``subject`` or ``patient``)."""
        reference = getattr(resource, "subject", None) or getattr(resource, "patient", None)
        if not isinstance(reference, Reference):
            return None
        target = self.resolve(reference)
        return resource_key(target) if target is not None else None

    def about(self, cls: type[R], patient_key: str) -> Iterator[R]:
        """Resources of one type about one patient."""
        for resource in self.of_type(cls):
            if self.subject_key(resource) == patient_key:
                yield resource


class Inputs:
    """Collects every resource a case used, as ``Type/id/_history/v``, in first-use order."""

    def __init__(self) -> None:
        self.refs: dict[str, None] = {}

    def use(self, resource: Resource) -> str:
        ref = resource_ref(resource)
        self.refs.setdefault(ref, None)
        return ref

    def as_list(self) -> list[str]:
        return list(self.refs)


def _version(resource: Resource) -> int:
    version = resource.meta.versionId if resource.meta else None
    return int(version) if version and version.isdigit() else -1


# --- extensions -----------------------------------------------------------------------------------------------------


def extensions(element: Element | Resource | None, url: str) -> list[Extension]:
    """Extensions of an element with this url. Sub-extensions may use the full URL or the relative name."""
    found = getattr(element, "extension", None) or []
    return [ext for ext in found if ext.url == url]


def extension(element: Element | Resource | None, url: str) -> Extension | None:
    found = extensions(element, url)
    return found[0] if found else None


def has_profile(resource: Resource, profiles: Iterable[str]) -> bool:
    declared = resource.meta.profile if resource.meta and resource.meta.profile else []
    wanted = set(profiles)
    return any(p.split("|")[0] in wanted for p in declared if p)


# --- codes ----------------------------------------------------------------------------------------------------------


def codings(concept: CodeableConcept | None) -> list[FhirCoding]:
    return list(concept.coding or []) if concept is not None else []


def has_code(concept: CodeableConcept | None, codes: Iterable[str], system: str | None = None) -> bool:
    wanted = set(codes)
    return any(c.code in wanted and (system is None or c.system == system) for c in codings(concept))


def lookup(concept: CodeableConcept | None, table: dict[str, str]) -> str | None:
    """The table's name for the first coding it knows, else the concept's text or display. A concept flagged
    un-encoded (null flavor UNC, as mCODE's examples do) means its text, even when it also carries a code."""
    if concept is not None and concept.text and any(c.system == NULL_FLAVOR for c in codings(concept)):
        return concept.text
    for coding in codings(concept):
        if coding.code and coding.code in table:
            return table[coding.code]
    return concept_text(concept)


def concept_text(concept: CodeableConcept | None) -> str | None:
    """``text``, else the first display, else the first code that is not a null flavor."""
    if concept is None:
        return None
    if concept.text:
        return concept.text
    for coding in codings(concept):
        if coding.display:
            return coding.display
    for coding in codings(concept):
        if coding.code and coding.system != NULL_FLAVOR:
            return coding.code
    return None


def case_coding(concept: CodeableConcept | None, prefer: Iterable[str] = ()) -> Coding | None:
    """The preferred coding (by system order) as a case ``Coding``."""
    found = [c for c in codings(concept) if c.code]
    if not found:
        return None
    order = list(prefer)
    found.sort(key=lambda c: order.index(c.system) if c.system in order else len(order))
    best = found[0]
    assert best.code is not None
    return Coding(system=best.system, code=best.code, display=best.display)


# --- values ---------------------------------------------------------------------------------------------------------


def as_date(value: date | datetime | str | None) -> date | None:
    """The calendar date in the source's local time; partial dates (``2021-09``) are not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def dose_gy(quantity: Quantity | None, *, where: tuple[str, str], default_unit: str | None = None) -> float | None:
    """A dose quantity in Gy. The unit comes from ``code`` or ``unit``; mCODE fixes ``totalDoseDelivered`` to cGy,
    so ``default_unit`` applies when neither is sent."""
    if quantity is None or quantity.value is None:
        return None
    unit = (quantity.code or quantity.unit or default_unit or "").strip().lower()
    factor = UNITS_TO_GY.get(unit)
    if factor is None:
        raise InvalidValue("dose unit is not Gy or cGy", resource=where[0], element=where[1])
    return round(float(Decimal(quantity.value) * Decimal(str(factor))), 4)
