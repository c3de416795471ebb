"""PID -> the patient; PV1, OBR, ORC and TXA XCN fields -> the physicians.

- PID-3 patient id (the repetition with identifier type MR, else the first), PID-5 name (the legal name, type L, else
  the first), PID-7 birth date, PID-8 sex (table 0001), PID-11 address (first repetition, one line), PID-30 death
  indicator (Y/N).
- PV1-7 attending -> treating physician, PV1-8 referring (else OBR-16 / ORC-12 ordering provider), OBR-28 result
  copies to -> copies; profile ``physician`` observations add sex, organisation and address.

Demographic data is tolerant: an invalid PID-7 birth date is dropped, as in the HL7 normative ORU sample.
"""

from __future__ import annotations

from rtletter.mappers.case import Patient, Physician, Sex
from rtletter.mappers.errors import InvalidValue, MissingElement
from rtletter.mappers.hl7v2.message import Message, Repetition, Segment, component_of
from rtletter.mappers.hl7v2.observations import Observations
from rtletter.mappers.hl7v2.values import FLAG_WORDS, SEX_CODES, parse_date


def map_patient(pid: Segment) -> Patient:
    """PID -> Patient. PID-3: the MR identifier (else the first, else PID-2); PID-5: the legal name (type L)."""
    identifiers = pid.repetitions(3)
    chosen = next((rep for rep in identifiers if (component_of(rep, 5) or "").upper() in ("MR", "MRN")), None)
    patient_id = component_of(chosen, 1) if chosen else None
    patient_id = patient_id or pid.get(2) or next((component_of(r, 1) for r in identifiers if component_of(r, 1)), None)
    if not patient_id:
        raise MissingElement("patient identifier missing", segment="PID", field="3")
    names = pid.repetitions(5)
    name = next((rep for rep in names if (component_of(rep, 7) or "").upper() == "L"), names[0] if names else None)
    given = None
    family = None
    if name:
        family = component_of(name, 1)
        given = " ".join(p for p in (component_of(name, 2), component_of(name, 3)) if p) or None
    try:
        birth_date = parse_date(pid.get(7), pid.where(7))
    except InvalidValue:
        birth_date = None  # tolerated: the letter header goes without it; the HL7 normative ORU sample has 196203520
    return Patient(
        id=patient_id,
        given=given,
        family=family,
        birth_date=birth_date,
        sex=SEX_CODES.get((pid.get(8) or "").upper(), Sex.unknown),
        address=_address(pid.repetitions(11)[0]) if pid.repetitions(11) else None,
        deceased=FLAG_WORDS.get((pid.get(30) or "").upper()),  # PID-30 patient death indicator (Y/N)
        source="PID",
    )


def _address(rep: Repetition) -> str | None:
    """XAD -> one line: street, other designation, postal code and city (state and country left out)."""
    street = component_of(rep, 1, 1) or " ".join(p for p in (component_of(rep, 1, 2), component_of(rep, 1, 3)) if p)
    city = " ".join(p for p in (component_of(rep, 5), component_of(rep, 3)) if p)
    parts = [p for p in (street, component_of(rep, 2), city) if p]
    return ", ".join(parts) or None


def physician_from_xcn(rep: Repetition | None, source: str) -> Physician | None:
    """XCN -> Physician: XCN.1 id, XCN.2 family, XCN.3 (+ .4) given, XCN.6 prefix (``Dr. med.``)."""
    if rep is None:
        return None
    physician_id = component_of(rep, 1)
    family = component_of(rep, 2)
    given = " ".join(p for p in (component_of(rep, 3), component_of(rep, 4)) if p) or None
    if not (physician_id or family or given):
        return None
    return Physician(id=physician_id, family=family, given=given, prefix=component_of(rep, 6), source=source)


def xcn_name(rep: Repetition | None) -> str | None:
    physician = physician_from_xcn(rep, "")
    if physician is None:
        return None
    name: str | None = physician.name or physician.id
    return name


def first_repetition(seg: Segment | None, number: int) -> Repetition | None:
    if seg is None:
        return None
    reps = seg.repetitions(number)
    return reps[0] if reps else None


def map_physicians(message: Message, found: Observations) -> tuple[Physician | None, Physician | None, list[Physician]]:
    pv1 = message.first("PV1")
    obr = message.first("OBR")
    orc = message.first("ORC")
    treating = physician_from_xcn(first_repetition(pv1, 7), "PV1-7")
    referring = (
        physician_from_xcn(first_repetition(pv1, 8), "PV1-8")
        or physician_from_xcn(first_repetition(obr, 16), "OBR-16")
        or physician_from_xcn(first_repetition(orc, 12), "ORC-12")
    )
    if referring is not None:
        referring = referring.model_copy(update={"via": referring.source})
    copies = [p for p in (physician_from_xcn(r, "OBR-28") for r in (obr.repetitions(28) if obr else [])) if p]
    extras = found.group("physician")

    def extend(physician: Physician | None, key: str) -> Physician | None:
        group = extras.get(key)
        if physician is None or group is None:
            return physician
        update: dict[str, object] = {
            "sex": group.sex("physician_sex"),
            "organization": group.text("physician_organization"),
            "address": group.text("physician_address"),
        }
        return physician.model_copy(update={k: v for k, v in update.items() if v is not None})

    copied = [extend(p, f"copy{i}") for i, p in enumerate(copies, start=1)]
    return extend(treating, "treating"), extend(referring, "referring"), [p for p in copied if p]
