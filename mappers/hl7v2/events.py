"""What happened around the course: toxicities, interruptions, performance status, follow-up, notes, prior RT.

- Toxicities from profile roles, or an OBX whose OBX-3 is a CTCAE/MedDRA term (OBX-5 its grade, a number or text).
- NTE-3 -> notes; AL1-3 allergen -> a note "Allergy: ..." (allergies matter for recommendations; the model has no
  allergy list); TXA + TX/FT OBX of an MDM message -> one note; other unclaimed TX/FT OBX -> notes.
"""

from __future__ import annotations

from rtletter.mappers.case import (
    Appointment,
    Coding,
    FollowUp,
    Interruption,
    Note,
    PerformanceStatus,
    PriorRadiotherapy,
    Toxicity,
)
from rtletter.mappers.codes import canonical_system
from rtletter.mappers.hl7v2.documents import read_document
from rtletter.mappers.hl7v2.message import Message
from rtletter.mappers.hl7v2.observations import Observation, Observations, obx_text
from rtletter.mappers.hl7v2.people import xcn_name
from rtletter.mappers.hl7v2.values import PERFORMANCE_RANGES, TEXT_TYPES, invalid_value, is_number, parse_date
from rtletter.mappers.toxicity import clean_term, grade_from_text


def map_toxicities(found: Observations) -> list[Toxicity]:
    toxicities = []
    for key, group in found.group("toxicity").items():
        coding = group.coding("toxicity_code")
        term = group.text("toxicity_term") or (coding.display or coding.code if coding else None)
        grade_obs = group.first("toxicity_grade")
        grade = _grade(grade_obs) if grade_obs is not None else None
        if grade is not None and not 1 <= grade <= 5:
            obs = group.first("toxicity_grade")
            raise invalid_value(obs.where if obs else "OBX", "CTCAE grade must be 1 to 5")
        if not term:
            continue
        if grade is None:
            grade = grade_from_text(term)
        toxicities.append(
            Toxicity(
                term=clean_term(term),
                grade=grade,
                severity=group.text("toxicity_severity"),
                onset=group.day("toxicity_onset"),
                code=coding,
                source=f"OBX toxicity {key}",
            )
        )
    for seg in found.coded_toxicities:  # OBX-3 a CTCAE/MedDRA term, OBX-5 its grade (a number or "Grad 2")
        code = seg.get(3) or ""
        term = seg.get(3, 2) or code
        value = seg.text(5)
        grade = None
        if value and value.strip().isdigit():
            grade = int(value.strip())
            if not 1 <= grade <= 5:
                raise invalid_value(seg.where(5), "CTCAE grade must be 1 to 5")
        else:
            grade = grade_from_text(value) or grade_from_text(term)
        toxicities.append(
            Toxicity(
                term=clean_term(term),
                grade=grade,
                onset=parse_date(seg.get(14), seg.where(14)),
                code=Coding(code=code, display=seg.get(3, 2), system=canonical_system(seg.get(3, 3))),
                source=seg.label,
            )
        )
    return toxicities


def _grade(obs: Observation) -> int | None:
    """A CTCAE grade as a number, or as text ("Grad 2", "Grade II", "G2")."""
    raw = (obs.raw() or "").strip()
    if not raw:
        return None
    if is_number(raw.replace(",", ".")):
        number: int | None = obs.integer()
        return number
    grade = grade_from_text(obs.text())
    if grade is None:
        raise invalid_value(obs.where, "not a CTCAE grade (1 to 5, Grad 2, Grade II, G2)")
    found: int | None = grade
    return found


def map_interruptions(found: Observations) -> list[Interruption]:
    return [
        Interruption(
            start=group.day("interruption_start"),
            end=group.day("interruption_end"),
            days=group.integer("interruption_days"),
            reason=group.text("interruption_reason"),
            source=f"OBX interruption {key}",
        )
        for key, group in found.group("interruption").items()
    ]


def map_performance_status(found: Observations) -> list[PerformanceStatus]:
    statuses = []
    for obs in found.items:
        if obs.role not in ("ecog", "karnofsky"):
            continue
        scale = "ECOG" if obs.role == "ecog" else "Karnofsky"
        value = obs.integer()
        if value is None:
            continue
        low, high = PERFORMANCE_RANGES[scale]
        if not low <= value <= high:
            raise invalid_value(obs.where, f"{scale} must be {low} to {high}")
        statuses.append(PerformanceStatus(scale=scale, value=value, observed=obs.observed_date(), source=obs.segment))
    return statuses


def map_follow_up(found: Observations) -> FollowUp:
    appointments = []
    for key, group in found.group("appointment").items():
        obs = group.first("appointment_when")
        when = obs.when() if obs else None
        if when is None:
            continue
        kind = group.text("appointment_kind") or "follow-up"
        appointments.append(
            Appointment(when=when, kind=kind, text=group.text("appointment_text"), source=f"OBX appointment {key}")
        )
    advised = [(t, obs.segment) for obs in found.items if obs.role == "recommendation"
               for t in [obs.text()] if t]  # fmt: skip
    return FollowUp(
        appointments=appointments,
        recommendations=[text for text, _ in advised],
        recommendation_sources=[source for _, source in advised],
    )


def map_notes(message: Message, found: Observations) -> list[Note]:
    notes = []
    is_document = message.first("TXA") is not None
    for obs in found.items:
        if obs.role == "note":
            text = obs.text()
            if text:
                author = xcn_name(obs.responsible)
                notes.append(Note(text=text, author=author, written=obs.observed_date(), source=obs.segment))
    if is_document:
        document = read_document(message, found)
        if document.text:
            notes.append(Note(text=document.text, author=document.author, written=document.activity, source="TXA"))
    else:
        for seg, value_type in found.unclaimed_text:
            if value_type in TEXT_TYPES:
                text = obx_text(seg)
                if text:
                    notes.append(Note(text=text, source=seg.label))
    for seg in message.all("NTE"):
        text = "\n".join(t for t in (seg.text(3, i) for i in range(len(seg.repetitions(3)))) if t)
        if text:
            notes.append(Note(text=text, source=seg.label))
    for seg in message.all("AL1"):
        allergen = seg.get(3, 2) or seg.get(3, 1)
        if allergen:
            notes.append(Note(text=f"Allergy: {allergen}", source=seg.label))
    return notes


def map_prior_radiotherapy(found: Observations, unit: str) -> list[PriorRadiotherapy]:
    return [
        PriorRadiotherapy(
            region=group.text("prior_region") or "unknown",
            total_dose_gy=group.dose("prior_total_dose", unit),
            fractions=group.integer("prior_fractions"),
            start=group.day("prior_start"),
            end=group.day("prior_end"),
            text=group.text("prior_text"),
            source=f"OBX prior {key}",
        )
        for key, group in found.group("prior").items()
    ]
