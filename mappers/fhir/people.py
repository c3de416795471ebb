"""Patient, Practitioner and PractitionerRole -> the case's patient and physicians."""

from __future__ import annotations

from fhir.resources.R4B.address import Address
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource

from rtletter.mappers.case import Patient, Physician, Sex
from rtletter.mappers.codes import V2_0203
from rtletter.mappers.fhir.index import BundleIndex, Inputs

_SEX: dict[str, Sex] = {"female": Sex.female, "male": Sex.male, "other": Sex.other, "unknown": Sex.unknown}


def map_patient(patient: FhirPatient, inputs: Inputs) -> Patient:
    """Patient -> case patient. ``id`` is the MRN (identifier typed MR, else the first one, else the resource id)."""
    name = _official_name(patient.name)
    deceased: bool | None = None
    if patient.deceasedBoolean is not None:
        deceased = patient.deceasedBoolean
    elif patient.deceasedDateTime is not None:
        deceased = True
    return Patient(
        id=_mrn(patient) or str(patient.id),
        given=" ".join(g for g in name.given if g) if name and name.given else None,
        family=name.family if name else None,
        birth_date=patient.birthDate,
        sex=_SEX.get(patient.gender or "unknown", Sex.unknown),
        address=_address_line(patient.address[0]) if patient.address else None,
        deceased=deceased,
        source=inputs.use(patient),
    )


def map_physician(reference: Reference | None, index: BundleIndex, inputs: Inputs) -> Physician | None:
    """A Practitioner or PractitionerRole (with its Practitioner and Organization) -> physician; None if unresolved."""
    target = index.resolve(reference)
    role: PractitionerRole | None = None
    if isinstance(target, PractitionerRole):
        role = target
        inputs.use(role)
        target = index.resolve(role.practitioner)
    practitioner = target if isinstance(target, Practitioner) else None
    if practitioner is None and role is None:
        return None
    organization: str | None = None
    org_address: str | None = None
    if role is not None:
        org = index.resolve(role.organization)
        if isinstance(org, Organization):
            inputs.use(org)
            organization = org.name
            org_address = _address_line(org.address[0]) if org.address else None
        elif role.organization is not None:
            organization = role.organization.display
    name = _official_name(practitioner.name) if practitioner else None
    address = org_address
    if practitioner is not None and practitioner.address:
        address = _address_line(practitioner.address[0])
    identifier = practitioner.identifier if practitioner is not None else None
    source = inputs.use(practitioner) if practitioner is not None else inputs.use(_as_resource(role))
    return Physician(
        id=identifier[0].value if identifier else None,
        prefix=" ".join(p for p in name.prefix if p) if name and name.prefix else None,
        given=" ".join(g for g in name.given if g) if name and name.given else None,
        family=name.family if name else None,
        sex=_SEX.get((practitioner.gender if practitioner else None) or "unknown", Sex.unknown),
        organization=organization,
        address=address,
        source=source,
    )


def _as_resource(resource: Resource | None) -> Resource:
    assert resource is not None
    return resource


def _mrn(patient: FhirPatient) -> str | None:
    identifiers = patient.identifier or []
    for identifier in identifiers:  # v2-0203 MR: medical record number
        if identifier.type and any(c.code == "MR" and c.system == V2_0203 for c in identifier.type.coding or []):
            return identifier.value
    return identifiers[0].value if identifiers else None


def _official_name(names: list[HumanName] | None) -> HumanName | None:
    if not names:
        return None
    for use in ("official", "usual"):
        for name in names:
            if name.use == use:
                return name
    return names[0]


def _address_line(address: Address) -> str | None:
    """One line for a letter header, German order: street, postal code and city."""
    if address.text:
        return address.text
    street = ", ".join(x for x in address.line or [] if x)
    town = " ".join(p for p in (address.postalCode, address.city) if p)
    return ", ".join(p for p in (street, town) if p) or None
