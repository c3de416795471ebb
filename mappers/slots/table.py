"""Case -> slot table: every checkable fact of a case under a short id the model can copy.

Ids are ``role`` or ``role.index``: ``[dose_total.1]``, ``[fx.1]``, ``[date_start]``, ``[dx_code.2]``,
``[date_end.p2]`` (phase 2), ``[dose_fx.b]`` (brachytherapy). Indices count from 1 in the order of the case's lists,
so the same case always gives the same ids. Target volumes are numbered over the course totals first, then over the
volumes of each phase that are not already a course volume (same name, dose and fraction count); phase slots exist
when the course has more than one phase.

The role says what a value is (``date_start`` vs ``date_end``, ``dose_planned`` vs ``dose_total``): the fact check
compares roles, not only values. The kind says how it is rendered and compared (``dose``, ``fractions``, ``date``,
``code`` and ``drug`` are the kinds of ``rtletter.mappers.case.Fact``).

A slot may have no value (a volume without a dose per fraction): it is in the table so the fact block can say so,
and it renders as a marked gap, never as an empty string.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

from rtletter.mappers.case import Case, CourseStatus, TargetVolume
from rtletter.mappers.codes import SHORT_NAMES
from rtletter.mappers.slots.words import drug_spellings
from rtletter.mappers.toxicity import TOXICITY_DE

SlotKind = Literal["dose", "fractions", "date", "code", "drug", "count", "time", "text"]
SlotValue = float | int | str | date | time | None

# role -> (kind, what it is). Every id starts with one of these roles.
ROLES: dict[str, tuple[SlotKind, str]] = {
    "name_given": ("text", "patient given name"),
    "name_family": ("text", "patient family name"),
    "birth_date": ("date", "patient birth date"),
    "address": ("text", "patient address"),
    "ref_given": ("text", "referring physician given name"),
    "ref_family": ("text", "referring physician family name"),
    "dx_code": ("code", "diagnosis code"),
    "dx_text": ("text", "diagnosis"),
    "dx_side": ("text", "side of the diagnosis"),
    "dx_date": ("date", "date of diagnosis"),
    "dx_tnm": ("text", "TNM"),
    "dx_stage": ("text", "stage group"),
    "dx_histology": ("text", "histology"),
    "dx_grade": ("text", "grading"),
    "dx_receptor": ("text", "receptor status"),
    "surgery": ("text", "surgery"),
    "surgery_code": ("code", "surgery code"),
    "surgery_date": ("date", "surgery date"),
    "therapy": ("text", "systemic therapy (regimen as written)"),
    "drug": ("drug", "systemic therapy agent"),
    "therapy_dose": ("text", "systemic therapy dose"),
    "therapy_start": ("date", "systemic therapy start"),
    "therapy_end": ("date", "systemic therapy end"),
    "cycles": ("count", "systemic therapy cycles"),
    "prior_region": ("text", "prior radiotherapy region"),
    "prior_dose": ("dose", "prior radiotherapy total dose"),
    "prior_fx": ("fractions", "prior radiotherapy fractions"),
    "prior_start": ("date", "prior radiotherapy start"),
    "prior_end": ("date", "prior radiotherapy end"),
    "course_name": ("text", "course"),
    "date_start": ("date", "radiotherapy start"),
    "date_end": ("date", "radiotherapy end"),
    "course_end": ("text", "how the course ended: completed as planned, or stopped early"),
    "stop_reason": ("text", "why the course stopped"),
    "technique": ("text", "technique"),
    "modality": ("text", "modality"),
    "energy": ("text", "energy"),
    "volume": ("text", "target volume"),
    "dose_total": ("dose", "total dose delivered"),
    "dose_fx": ("dose", "dose per fraction"),
    "dose_planned": ("dose", "planned total dose"),
    "fx": ("fractions", "fractions delivered"),
    "fx_planned": ("fractions", "fractions planned"),
    "isotope": ("text", "brachytherapy source"),
    "applicator": ("text", "brachytherapy applicator"),
    "pause_start": ("date", "interruption start"),
    "pause_end": ("date", "interruption end"),
    "pause_days": ("count", "interruption days"),
    "pause_reason": ("text", "interruption reason"),
    "tox": ("text", "side effect (CTCAE term)"),
    "tox_grade": ("count", "CTCAE grade"),
    "tox_onset": ("date", "side effect onset"),
    "ps": ("count", "performance status"),
    "appt": ("date", "appointment date"),
    "appt_time": ("time", "appointment time"),
    "appt_kind": ("text", "appointment"),
    "rec": ("text", "recommendation, as the record words it"),
}

# Context words before a value that tie it to its owner when several slots hold the same value.
_BIRTH_WORDS = ("geb.", "geboren", "Geburtsdatum", "born", "DOB", "date of birth")
# "Frau"/"Herr"/"Mr" are left out: letters write them before the referring physician's name too.
_PATIENT_WORDS = ("Patientin", "Patienten", "Patient", "Betr.:", "Betreff:", "Re:", "RE:")
_REFERRER_WORDS = ("Kollegin", "Kollege", "Dr.", "Dr", "Prof.", "Dear", "geehrte", "geehrter", "Liebe", "Lieber")
_DIAGNOSIS_WORDS = ("ED", "Erstdiagnose", "diagnosed", "diagnosis")
_PRIOR_WORDS = ("Vorbestrahlung", "Radiatio", "Z. n.", "previous radiotherapy", "Previous radiotherapy", "prior")
_PAUSE_WORDS = ("Unterbrechung", "unterbrochen", "pausiert", "interrupted", "interruption", "Interruption")
_BRACHY_WORDS = ("HDR", "Brachytherapie", "brachytherapy", "Brachytherapy")


@dataclass(frozen=True)
class Slot:
    """One fact of the case. ``source`` is the resource or segment it came from (``Procedure/x``, ``PID``);
    ``anchors`` are words that, written before a value, say it is this slot's (a volume name, a drug, "geb.");
    ``near`` is a slot whose value must be on the same line for this one to be aligned (an appointment's kind
    only next to its date: "Nachsorge" alone is a heading)."""

    id: str
    role: str
    value: SlotValue
    source: str | None = None
    label: str = ""
    anchors: tuple[str, ...] = ()
    near: str | None = None
    system: str | None = None  # a code's system by its short name ("SNOMED CT"): the label the letter gives it

    @property
    def kind(self) -> SlotKind:
        return ROLES[self.role][0]

    @property
    def scope(self) -> str:
        """What the slot belongs to: ``""`` for the patient or the course, ``"1"`` for volume 1, ``"p2"``, ``"b"``."""
        return self.id.partition(".")[2]

    @property
    def missing(self) -> bool:
        return self.value is None or self.value == ""


@dataclass(frozen=True)
class SlotTable:
    """The slots of one case, in a stable order; look up by id with ``table[id]`` or ``table.get(id)``."""

    slots: tuple[Slot, ...]
    _by_id: dict[str, Slot] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {slot.id: slot for slot in self.slots})

    def __iter__(self) -> Iterator[Slot]:
        return iter(self.slots)

    def __len__(self) -> int:
        return len(self.slots)

    def __contains__(self, slot_id: object) -> bool:
        return slot_id in self._by_id

    def __getitem__(self, slot_id: str) -> Slot:
        return self._by_id[slot_id]

    def get(self, slot_id: str) -> Slot | None:
        return self._by_id.get(slot_id)

    def by_role(self, role: str) -> list[Slot]:
        return [slot for slot in self.slots if slot.role == role]


class _Builder:
    def __init__(self) -> None:
        self.slots: list[Slot] = []

    def add(
        self,
        slot_id: str,
        value: SlotValue,
        source: str | None,
        label: str = "",
        anchors: tuple[str, ...] = (),
        *,
        keep_missing: bool = False,
        near: str | None = None,
        system: str | None = None,
    ) -> None:
        """Add a slot; one without a value only when ``keep_missing`` (the facts every letter needs)."""
        if isinstance(value, str):
            value = value.strip() or None
        if value is None and not keep_missing:
            return
        role = slot_id.partition(".")[0]
        assert role in ROLES, role
        self.slots.append(Slot(slot_id, role, value, source, label, anchors, near, system))


def _volume_key(volume: TargetVolume) -> tuple[object, ...]:
    return (volume.name, volume.total_dose_gy, volume.dose_per_fraction_gy, volume.fractions_delivered)


def _day(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def case_slots(case: Case) -> SlotTable:
    """Every checkable fact of ``case`` as a slot with a stable id, a typed value, a role and its source."""
    b = _Builder()
    patient, course = case.patient, case.course
    words: tuple[str, ...]  # the anchors of the slots being added

    # The patient: PID-5 / Patient.name, PID-7 / Patient.birthDate, PID-11 / Patient.address.
    family = (patient.family,) if patient.family else ()
    b.add("name_given", patient.given, patient.source, "patient", (*family, *_PATIENT_WORDS), keep_missing=True)
    given = (patient.given,) if patient.given else ()
    b.add("name_family", patient.family, patient.source, "patient", (*given, *_PATIENT_WORDS), keep_missing=True)
    b.add("birth_date", patient.birth_date, patient.source, "patient", _BIRTH_WORDS, keep_missing=True)
    b.add("address", patient.address, patient.source, "patient")
    ref = case.referring_physician
    if ref is not None:
        family = (ref.family,) if ref.family else ()
        b.add("ref_given", ref.given, ref.source, "referring physician", (*family, *_REFERRER_WORDS))
        given = (ref.given,) if ref.given else ()
        b.add("ref_family", ref.family, ref.source, "referring physician", (*given, *_REFERRER_WORDS))

    for n, dx in enumerate(case.diagnoses, 1):
        text = dx.text or (dx.code.display if dx.code else None)
        words = (text,) if text else ()
        label = f"{dx.role} diagnosis"
        system = SHORT_NAMES.get(dx.code.system or "") if dx.code else None
        b.add(f"dx_code.{n}", dx.code.code if dx.code else None, dx.source, label, words, keep_missing=True,
              system=system)  # fmt: skip
        b.add(f"dx_text.{n}", text, dx.source, label)
        b.add(f"dx_side.{n}", dx.laterality, dx.source, label, words)
        b.add(f"dx_date.{n}", dx.diagnosis_date, dx.source, label, (*words, *_DIAGNOSIS_WORDS))
        b.add(f"dx_tnm.{n}", dx.tnm, dx.source, label, words)
        b.add(f"dx_stage.{n}", dx.stage, dx.source, label, words)
        b.add(f"dx_histology.{n}", dx.histology.display if dx.histology else None, dx.source, label, words)
        b.add(f"dx_grade.{n}", dx.grade, dx.source, label, words)
        b.add(f"dx_receptor.{n}", dx.receptor_status, dx.source, label, words)

    for n, surgery in enumerate(case.surgeries, 1):
        words = (surgery.text,)
        b.add(f"surgery.{n}", surgery.text, surgery.source, "surgery")
        b.add(f"surgery_code.{n}", surgery.code.code if surgery.code else None, surgery.source, "surgery", words)
        b.add(f"surgery_date.{n}", surgery.performed, surgery.source, "surgery", words)

    # Systemic therapy: prior first, then concurrent; agents numbered once each over all therapies.
    agents: dict[str, int] = {}
    for n, therapy in enumerate([*case.systemic_therapies, *course.concurrent_therapy], 1):
        label = "concurrent systemic therapy" if therapy.concurrent else "systemic therapy"
        spellings = tuple(name for agent in therapy.agents for name in drug_spellings(agent))
        words = tuple(w for w in (therapy.text, therapy.dose) if w) + spellings
        for agent in therapy.agents:
            key = agent.strip().lower()
            if key and key not in agents:
                agents[key] = len(agents) + 1
                b.add(f"drug.{agents[key]}", key, therapy.source, label)
        if (therapy.text or "").strip() not in spellings:  # a therapy written as one drug's name is that drug's slot
            b.add(f"therapy.{n}", therapy.text, therapy.source, label)
        b.add(f"therapy_dose.{n}", therapy.dose, therapy.source, label, words)
        b.add(f"therapy_start.{n}", therapy.start, therapy.source, label, words)
        b.add(f"therapy_end.{n}", therapy.end, therapy.source, label, words)
        b.add(f"cycles.{n}", therapy.cycles, therapy.source, label, words)

    for n, prior in enumerate(case.prior_radiotherapy, 1):
        words = (prior.region, *_PRIOR_WORDS)
        label = f"prior radiotherapy ({prior.region})"
        b.add(f"prior_region.{n}", prior.region, prior.source, label)
        b.add(f"prior_dose.{n}", prior.total_dose_gy, prior.source, label, words)
        b.add(f"prior_fx.{n}", prior.fractions, prior.source, label, words)
        b.add(f"prior_start.{n}", prior.start, prior.source, label, words)
        b.add(f"prior_end.{n}", prior.end, prior.source, label, words)

    # The course: Procedure (course summary) / the course's segments.
    b.add("course_name", course.name, course.source, "course")
    b.add("date_start", course.start, course.source, "course", keep_missing=True)
    b.add("date_end", course.end, course.source, "course", keep_missing=True)
    # How the course ended is a fact too: a slot, so that a draft can state a stop only where the case has one (a
    # course with a phase stopped for a new plan, or one not confirmed, has neither: its lines say what happened).
    if course.status is CourseStatus.stopped or course.completed_as_planned:
        b.add("course_end", course.status.value, course.source, "course")
    if course.status is CourseStatus.stopped and course.status_reason is not None:
        reason = course.status_reason
        b.add("stop_reason", reason.display or reason.code, course.source, "course")
    for n, technique in enumerate(course.techniques, 1):
        b.add(f"technique.{n}", technique, course.source, "course")
    for n, modality in enumerate(course.modalities, 1):
        b.add(f"modality.{n}", modality, course.source, "course")
    b.add("energy", course.energy, course.source, "course")

    numbers: dict[tuple[object, ...], int] = {}
    phased = [(None, v) for v in course.volumes] + [(p, v) for p in course.phases for v in p.volumes]
    for phase, volume in phased:
        volume_key = _volume_key(volume)
        if volume_key in numbers:
            continue
        n = numbers[volume_key] = len(numbers) + 1
        label = volume.name + (f" ({phase.name})" if phase is not None and phase.name else "")
        words = (volume.name,)
        b.add(f"volume.{n}", volume.name, volume.source, label)
        b.add(f"dose_total.{n}", volume.total_dose_gy, volume.source, label, words, keep_missing=True)
        b.add(f"dose_fx.{n}", volume.dose_per_fraction_gy, volume.source, label, words, keep_missing=True)
        b.add(f"dose_planned.{n}", volume.planned_total_dose_gy, volume.source, label, words)
        b.add(f"fx.{n}", volume.fractions_delivered, volume.source, label, words, keep_missing=True)
        b.add(f"fx_planned.{n}", volume.fractions_planned, volume.source, label, words)

    if len(course.phases) > 1:
        for k, phase in enumerate(course.phases, 1):
            label = phase.name or f"phase {k}"
            words = (phase.name,) if phase.name else ()
            source = phase.source or course.source
            b.add(f"date_start.p{k}", phase.start, source, label, words)
            b.add(f"date_end.p{k}", phase.end, source, label, words)
            b.add(f"fx.p{k}", phase.fractions_delivered, source, label, words)
            b.add(f"fx_planned.p{k}", phase.fractions_planned, source, label, words)
            b.add(f"technique.p{k}", phase.technique, source, label, words)
            b.add(f"modality.p{k}", phase.modality, source, label, words)

    if course.brachytherapy is not None:
        brachy = course.brachytherapy
        words = tuple(w for w in (brachy.dose_rate, brachy.source_isotope, brachy.applicator) if w) + _BRACHY_WORDS
        b.add("dose_total.b", brachy.total_dose_gy, course.source, "brachytherapy", words)
        b.add("dose_fx.b", brachy.dose_per_fraction_gy, course.source, "brachytherapy", words)
        b.add("fx.b", brachy.fractions, course.source, "brachytherapy", words)
        b.add("isotope", brachy.source_isotope, course.source, "brachytherapy")
        b.add("applicator", brachy.applicator, course.source, "brachytherapy")

    for n, pause in enumerate(case.interruptions, 1):
        words = (*_PAUSE_WORDS, *((pause.reason,) if pause.reason else ()))
        b.add(f"pause_start.{n}", pause.start, pause.source, "interruption", words)
        b.add(f"pause_end.{n}", pause.end, pause.source, "interruption", words)
        b.add(f"pause_days.{n}", pause.days, pause.source, "interruption", words)
        b.add(f"pause_reason.{n}", pause.reason, pause.source, "interruption")

    for n, tox in enumerate(case.toxicities, 1):
        words = tuple(dict.fromkeys(w for w in (tox.term, TOXICITY_DE.get(tox.term)) if w))  # as letters name it
        b.add(f"tox.{n}", tox.term, tox.source, "side effect")
        b.add(f"tox_grade.{n}", tox.grade, tox.source, tox.term, words)
        b.add(f"tox_onset.{n}", tox.onset, tox.source, tox.term, words)

    statuses = case.performance_status
    for n, status in enumerate(statuses, 1):
        moment: tuple[str, ...] = ()
        if n == 1:
            moment = ("zu Beginn", "at the start")
        elif n == len(statuses):
            moment = ("bei Abschluss", "at the end")
        b.add(f"ps.{n}", status.value, status.source, status.scale, (status.scale, *moment))

    for n, appointment in enumerate(case.follow_up.appointments, 1):
        words = tuple(w for w in (appointment.kind, appointment.text) if w)
        when = appointment.when
        b.add(f"appt.{n}", _day(when), appointment.source, appointment.kind, words)
        if isinstance(when, datetime) and (when.hour or when.minute):
            b.add(f"appt_time.{n}", when.time().replace(tzinfo=None), appointment.source, appointment.kind, words)
        b.add(f"appt_kind.{n}", appointment.kind, appointment.source, "appointment", near=f"appt.{n}")

    # The record's recommendations as slots too: a small model otherwise writes another entity's advice from memory
    # ("Mammographie beidseits" in a letter on a tongue carcinoma).
    for n, advice in enumerate(case.follow_up.recommendations, 1):
        b.add(f"rec.{n}", advice, case.follow_up.recommendation_source(n - 1), "recommendation")

    return SlotTable(tuple(b.slots))
