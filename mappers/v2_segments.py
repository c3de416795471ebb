"""HL7 v2 segments -> the case: PID, PV1, DG1, PR1, OBX, AL1, NTE, ORC/OBR, TXA, and profile Z-segments.

``case_from_v2(message, profile)`` maps one message. Standard segments are read the same at every site:

- PID-3 patient id (the repetition with identifier type MR, else the first), PID-5 name (the legal name, type L, else
  the first), PID-7 birth date, PID-8 sex (table 0001), PID-11 address (first repetition, one line), PID-30 death
  indicator (Y/N).
- PV1-7 attending -> treating physician, PV1-8 referring (else OBR-16 / ORC-12 ordering provider), PV1-19 visit
  number (the course id when no profile code carries one), OBR-28 result copies to -> copies.
- DG1-3 diagnosis code (coding system in DG1-3.3: I10, ICD10GM, ICD10CM ...), DG1-4 text, DG1-5 date, DG1-15
  priority 1 -> primary. DG1-6 (admitting/working/final) is not kept.
- PR1-3 procedure code (OPS: O301), PR1-4 text, PR1-5 date -> surgeries.
- AL1-3 allergen -> a note "Allergy: ..." (allergies matter for recommendations; the model has no allergy list).
- NTE-3 -> notes. TXA + TX/FT OBX of an MDM message -> one note; ``document_from_v2`` gives TXA-17 and the rest.

Radiotherapy data (course, volumes, doses, toxicities, appointments ...) comes from OBX or Z-segments as the profile
says (``v2_profile``). OBX that no profile code claims are ignored, except TX/FT text which becomes a note.
Demographic data is tolerant (an invalid PID-7 birth date is dropped, as in the HL7 normative ORU sample);
course data is strict: a dose that is not a number raises InvalidValue naming ``OBX[n]-5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from rtletter.mappers.case import (
    Appointment,
    Brachytherapy,
    Case,
    CaseFlag,
    Coding,
    Course,
    CourseStatus,
    Diagnosis,
    DiagnosisRole,
    FollowUp,
    Intent,
    Interruption,
    Note,
    Patient,
    PerformanceStatus,
    Phase,
    Physician,
    PriorRadiotherapy,
    Sex,
    Surgery,
    SystemicTherapy,
    TargetVolume,
    Toxicity,
)
from rtletter.mappers.checks import check_counts, finish_case
from rtletter.mappers.codes import ISOTOPE_BY_CODE, MODALITY_BY_CODE, OPS, TECHNIQUE_BY_CODE, canonical_system
from rtletter.mappers.errors import InvalidValue, MissingElement
from rtletter.mappers.toxicity import clean_term, grade_from_text, is_toxicity_system
from rtletter.mappers.v2_message import MAPPED_SEGMENTS, Message, Repetition, Segment, component_of, parse
from rtletter.mappers.v2_profile import Profile, default_profile, role_group

# --- value tables ---------------------------------------------------------------------------------------------------

# HL7 table 0001 administrative sex.
SEX_CODES: dict[str, Sex] = {"F": Sex.female, "M": Sex.male, "O": Sex.other, "A": Sex.other, "U": Sex.unknown}
SEX_TO_V2: dict[Sex, str] = {Sex.female: "F", Sex.male: "M", Sex.other: "O", Sex.unknown: "U"}

STATUS_WORDS: dict[str, CourseStatus] = {
    **{s.value: s for s in CourseStatus},
    "complete": CourseStatus.completed,
    "finished": CourseStatus.completed,
    "abgeschlossen": CourseStatus.completed,
    "abgebrochen": CourseStatus.stopped,
    "aborted": CourseStatus.stopped,
    "in-progress": CourseStatus.in_progress,
    "active": CourseStatus.in_progress,
    "laufend": CourseStatus.in_progress,
}

INTENT_WORDS: dict[str, Intent] = {
    **{i.value: i for i in Intent},
    "373808002": Intent.curative,  # SNOMED, mCODE procedure intent
    "363676003": Intent.palliative,
    "399707004": Intent.supportive,
    "kurativ": Intent.curative,
    "palliativ": Intent.palliative,
    "supportiv": Intent.supportive,
    "definitiv": Intent.definitive,
}

FLAG_WORDS: dict[str, bool] = {
    "Y": True,
    "YES": True,
    "TRUE": True,
    "1": True,
    "J": True,
    "JA": True,
    "N": False,
    "NO": False,
    "FALSE": False,
    "0": False,
    "NEIN": False,
}

DIAGNOSIS_ROLES: dict[str, DiagnosisRole] = {
    "primary": "primary",
    "secondary": "secondary",
    "comorbidity": "comorbidity",
}

# OBX-6 unit -> factor to Gy (mCODE: doses in cGy; CodeX and German sites: Gy).
DOSE_UNITS: dict[str, float] = {"GY": 1.0, "CGY": 0.01}
PERFORMANCE_RANGES: dict[str, tuple[int, int]] = {"ECOG": (0, 5), "Karnofsky": (0, 100)}
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})
TEXT_TYPES = frozenset({"TX", "FT"})

_OPS_RADIOTHERAPY = re.compile(r"8-?52\d")  # OPS 8-52: Strahlentherapie (8-520 ... 8-529)
# Names a modality, technique or energy may be written as that contain digits but are not codes.
KNOWN_NAMES = frozenset(
    n.upper()
    for n in (
        *MODALITY_BY_CODE.values(),
        *TECHNIQUE_BY_CODE.values(),
        *ISOTOPE_BY_CODE.values(),
        "3D-CRT",
        "2D",
        "3D",
        "4D-CT",
        "Co-60",
        "Cs-137",
        "Sr-90",
        "Ru-106",
        "Y-90",
    )
)
_CODE_LIKE = re.compile(r"[A-Za-z0-9._:|-]*\d[A-Za-z0-9._:|-]*\Z")
_ENERGY = re.compile(r"\d+(?:[.,]\d+)?\s*(?:k|M)e?V\b", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?\Z")


# --- values ---------------------------------------------------------------------------------------------------------


def parse_date(raw: str | None, where: str) -> date | None:
    """HL7 DT/DTM -> the calendar date (``YYYYMMDD[HHMM[SS]][+ZZZZ]``); a partial or invalid date raises."""
    if not raw:
        return None
    value = parse_when(raw, where)
    return value.date() if isinstance(value, datetime) else value


def parse_when(raw: str, where: str) -> date | datetime:
    """HL7 DTM -> a date (8 digits) or a date-time (with its UTC offset when one is given)."""
    match = _DATE_TIME.match(raw.strip())
    if not match:
        raise _invalid(where, "not an HL7 date YYYYMMDD[HHMM[SS]][+ZZZZ]")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        if hour is None:
            return date(int(year), int(month), int(day))
        tz = None
        if offset:
            sign = -1 if offset[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        micro = int((fraction or "0").ljust(6, "0")[:6])
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz)
    except ValueError as exc:
        raise _invalid(where, "not a valid calendar date") from exc


def parse_number(raw: str | None, where: str) -> float | None:
    """HL7 NM (a decimal comma is accepted: German senders)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        raise _invalid(where, "not a number")
    return float(text)


def parse_int(raw: str | None, where: str) -> int | None:
    number = parse_number(raw, where)
    if number is None:
        return None
    if not number.is_integer():
        raise _invalid(where, "not a whole number")
    return int(number)


def _invalid(where: str, message: str) -> InvalidValue:
    segment, _, number = where.partition("-")
    return InvalidValue(f"{where}: {message}", segment=segment, field=number or None)


# --- observations: OBX and Z-segment fields that carry a profile role ----------------------------------------------


@dataclass
class Observation:
    role: str
    sub_id: str
    values: list[Repetition]  # OBX-5 repetitions
    value_type: str  # OBX-2 (empty for Z-segments)
    unit: str | None  # OBX-6.1
    observed: str | None  # OBX-14
    responsible: Repetition | None  # OBX-16, first repetition
    where: str  # "OBX[3]-5"

    def text(self) -> str | None:
        """The value as text: TX repetitions are lines; a coded value gives its display (else its code)."""
        lines = [t for t in (self._rep_text(rep) for rep in self.values) if t]
        return "\n".join(lines) or None

    def texts(self) -> list[str]:
        return [t for t in (self._rep_text(rep) for rep in self.values) if t]

    def _rep_text(self, rep: Repetition) -> str | None:
        if self.value_type in CODED_TYPES:
            coded: str | None = component_of(rep, 2) or component_of(rep, 1)
            return coded
        parts = ["&".join(s for s in sub) for sub in rep]
        while parts and not parts[-1].strip():
            parts.pop()
        return "^".join(parts).strip() or None

    def raw(self) -> str | None:
        return component_of(self.values[0], 1) if self.values else None

    def coding(self) -> Coding | None:
        if not self.values:
            return None
        rep = self.values[0]
        code = component_of(rep, 1)
        if not code:
            return None
        return Coding(code=code, display=component_of(rep, 2), system=canonical_system(component_of(rep, 3)))

    def codings(self) -> list[Coding]:
        found = []
        for rep in self.values:
            code = component_of(rep, 1)
            if code:
                found.append(
                    Coding(code=code, display=component_of(rep, 2), system=canonical_system(component_of(rep, 3)))
                )
        return found

    def day(self) -> date | None:
        return parse_date(self.raw(), self.where)

    def when(self) -> date | datetime | None:
        raw = self.raw()
        return parse_when(raw, self.where) if raw else None

    def integer(self) -> int | None:
        return parse_int(self.raw(), self.where)

    def dose(self, default_unit: str) -> float | None:
        value = parse_number(self.raw(), self.where)
        if value is None:
            return None
        unit = (self.unit or default_unit).strip().upper()
        if unit not in DOSE_UNITS:
            raise _invalid(self.where.rsplit("-", 1)[0] + "-6", "dose unit is neither Gy nor cGy")
        return round(value * DOSE_UNITS[unit], 10) if unit != "GY" else value

    def flag(self) -> bool | None:
        raw = self.raw()
        if raw is None:
            return None
        if raw.strip().upper() not in FLAG_WORDS:
            raise _invalid(self.where, "not a yes/no flag (Y or N)")
        return FLAG_WORDS[raw.strip().upper()]

    def observed_date(self) -> date | None:
        if not self.observed:
            return None
        return parse_date(self.observed, self.where.rsplit("-", 1)[0] + "-14")


class _Group:
    """The observations of one item (one sub-id of one group)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.by_role: dict[str, list[Observation]] = {}

    def add(self, obs: Observation) -> None:
        self.by_role.setdefault(obs.role, []).append(obs)

    def first(self, role: str) -> Observation | None:
        found = self.by_role.get(role)
        return found[0] if found else None

    def all(self, role: str) -> list[Observation]:
        return self.by_role.get(role, [])

    def text(self, role: str) -> str | None:
        obs = self.first(role)
        return obs.text() if obs else None

    def texts(self, role: str) -> list[str]:
        return [t for obs in self.all(role) for t in obs.texts()]

    def coding(self, role: str) -> Coding | None:
        obs = self.first(role)
        return obs.coding() if obs else None

    def day(self, role: str) -> date | None:
        obs = self.first(role)
        return obs.day() if obs else None

    def integer(self, role: str) -> int | None:
        obs = self.first(role)
        return obs.integer() if obs else None

    def dose(self, role: str, default_unit: str) -> float | None:
        obs = self.first(role)
        return obs.dose(default_unit) if obs else None

    def flag(self, role: str) -> bool | None:
        obs = self.first(role)
        return obs.flag() if obs else None

    def status(self, role: str) -> CourseStatus | None:
        obs = self.first(role)
        if obs is None:
            return None
        return _lookup(obs, STATUS_WORDS, "not a course status (completed, stopped, in-progress, unknown)")

    def intent(self, role: str) -> Intent | None:
        obs = self.first(role)
        if obs is None:
            return None
        return _lookup(obs, INTENT_WORDS, "not a treatment intent (curative, palliative, ...)")

    def sex(self, role: str) -> Sex | None:
        obs = self.first(role)
        if obs is None or not obs.raw():
            return None
        return SEX_CODES.get((obs.raw() or "").upper(), Sex.unknown)

    def __bool__(self) -> bool:
        return bool(self.by_role)


_T = TypeVar("_T")


def _lookup(obs: Observation, table: dict[str, _T], message: str) -> _T | None:
    candidates = [obs.raw(), component_of(obs.values[0], 2) if obs.values else None]
    for candidate in candidates:
        if candidate and candidate.strip().lower() in table:
            return table[candidate.strip().lower()]
    if not any(candidates):
        return None
    raise _invalid(obs.where, message)


@dataclass
class _Observations:
    single: _Group = field(default_factory=lambda: _Group(""))
    groups: dict[str, dict[str, _Group]] = field(default_factory=dict)
    items: list[Observation] = field(default_factory=list)  # one item per OBX: ecog, karnofsky, recommendation, note
    coded_toxicities: list[Segment] = field(default_factory=list)  # OBX-3 a CTCAE/MedDRA term no role claims
    unclaimed_text: list[tuple[Segment, str]] = field(default_factory=list)  # TX/FT OBX no role claims

    def group(self, name: str) -> dict[str, _Group]:
        return self.groups.get(name, {})

    def add(self, obs: Observation) -> None:
        group = role_group(obs.role)
        if group is None:
            self.single.add(obs)
        elif group == "item":
            self.items.append(obs)
        else:
            by_key = self.groups.setdefault(group, {})
            by_key.setdefault(obs.sub_id, _Group(obs.sub_id)).add(obs)


def _collect(message: Message, profile: Profile) -> _Observations:
    found = _Observations()
    for seg in message.segments:
        if seg.name == "OBX":
            role = profile.role_of(seg.get(3, 1), seg.get(3, 3))
            value_type = (seg.get(2) or "").upper()
            if role is None and is_toxicity_system(canonical_system(seg.get(3, 3))):
                found.coded_toxicities.append(seg)
                continue
            if role is None:
                text = _obx_text(seg) if value_type in TEXT_TYPES or value_type == "ST" else None
                if text:
                    found.unclaimed_text.append((seg, value_type))
                continue
            found.add(
                Observation(
                    role=role,
                    sub_id=(seg.get(4) or "").strip(),
                    values=seg.repetitions(5),
                    value_type=value_type,
                    unit=seg.get(6),
                    observed=seg.get(14),
                    responsible=(seg.repetitions(16) or [None])[0],
                    where=seg.where(5),
                )
            )
    for role, spec in profile.z_fields.items():
        for seg in message.all(spec.segment):
            found.add(
                Observation(
                    role=role,
                    sub_id=str(seg.index),
                    values=seg.repetitions(spec.field),
                    value_type="",
                    unit=spec.unit,
                    observed=None,
                    responsible=None,
                    where=seg.where(spec.field),
                )
            )
    return found


def _obx_text(seg: Segment) -> str | None:
    lines = [t for t in (seg.text(5, i) for i in range(len(seg.repetitions(5)))) if t]
    return "\n".join(lines) or None


# --- people ---------------------------------------------------------------------------------------------------------


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


def _xcn_name(rep: Repetition | None) -> str | None:
    physician = physician_from_xcn(rep, "")
    if physician is None:
        return None
    name: str | None = physician.name or physician.id
    return name


def _first_rep(seg: Segment | None, number: int) -> Repetition | None:
    if seg is None:
        return None
    reps = seg.repetitions(number)
    return reps[0] if reps else None


# --- diagnoses and procedures ---------------------------------------------------------------------------------------


def map_dg1(seg: Segment) -> Diagnosis:
    """DG1 -> Diagnosis (role decided later from DG1-15 and the profile's diagnosis_role)."""
    code = seg.get(3)
    coding = None
    if code:
        coding = Coding(code=code, display=seg.get(3, 2), system=canonical_system(seg.get(3, 3)))
    return Diagnosis(
        code=coding,
        text=seg.text(4) or seg.get(3, 2),
        diagnosis_date=parse_date(seg.get(5), seg.where(5)),
        source=seg.label,
    )


def map_pr1(seg: Segment) -> Surgery | None:
    """PR1 -> Surgery: PR1-3 code, PR1-4 text (else the code's display), PR1-5 date."""
    code = seg.get(3)
    coding = Coding(code=code, display=seg.get(3, 2), system=canonical_system(seg.get(3, 3))) if code else None
    text = seg.text(4) or seg.get(3, 2) or code
    if not text:
        return None
    return Surgery(text=text, code=coding, performed=parse_date(seg.get(5), seg.where(5)), source=seg.label)


def _diagnoses(message: Message, found: _Observations) -> list[Diagnosis]:
    by_key: dict[str, Diagnosis] = {}
    priority: dict[str, bool] = {}
    for seg in message.all("DG1"):
        key = seg.get(1) or str(seg.index)
        by_key[key] = map_dg1(seg)
        priority[key] = seg.get(15) == "1"
    explicit: dict[str, DiagnosisRole] = {}
    for key, group in found.group("diagnosis").items():
        updates: dict[str, object] = {
            "code": group.coding("diagnosis_code"),
            "text": group.text("diagnosis_text"),
            "diagnosis_date": group.day("diagnosis_date"),
            "laterality": group.text("diagnosis_laterality"),
            "histology": group.coding("diagnosis_histology"),
            "grade": group.text("diagnosis_grade"),
            "tnm": group.text("diagnosis_tnm"),
            "stage": group.text("diagnosis_stage"),
            "receptor_status": group.text("diagnosis_receptor_status"),
        }
        updates = {k: v for k, v in updates.items() if v is not None}
        role_obs = group.first("diagnosis_role")
        if role_obs is not None and role_obs.raw():
            role = DIAGNOSIS_ROLES.get((role_obs.raw() or "").lower())
            if role is None:
                raise _invalid(role_obs.where, "not a diagnosis role (primary, secondary, comorbidity)")
            explicit[key] = role
        if key in by_key:
            by_key[key] = by_key[key].model_copy(update=updates)
        elif updates.get("code") or updates.get("text"):
            by_key[key] = Diagnosis.model_validate({"source": f"OBX diagnosis {key}", **updates})
    diagnoses = []
    has_primary = any(r == "primary" for r in explicit.values()) or any(
        priority.get(k) for k in by_key if k not in explicit
    )
    for key, diagnosis in by_key.items():
        if key in explicit:
            role = explicit[key]
        elif priority.get(key) or not has_primary:
            role = "primary"
            has_primary = True
        else:
            role = "secondary"
        diagnoses.append(diagnosis.model_copy(update={"role": role}))
    return diagnoses


def is_radiotherapy_pr1(seg: Segment) -> bool:
    """PR1-3 an OPS radiotherapy code (8-52...): the course itself, not an earlier operation."""
    code = (seg.get(3) or "").strip()
    system = canonical_system(seg.get(3, 3))
    return bool(_OPS_RADIOTHERAPY.match(code)) and system in (None, OPS)


def _surgeries(message: Message, found: _Observations) -> list[Surgery]:
    surgeries = [s for s in (map_pr1(seg) for seg in message.all("PR1") if not is_radiotherapy_pr1(seg)) if s]
    for key, group in found.group("surgery").items():
        coding = group.coding("surgery_code")
        text = group.text("surgery_text") or (coding.display or coding.code if coding else None)
        if text:
            surgeries.append(
                Surgery(text=text, code=coding, performed=group.day("surgery_date"), source=f"OBX surgery {key}")
            )
    return surgeries


# --- the course -----------------------------------------------------------------------------------------------------


def _volume(group: _Group, unit: str) -> TargetVolume:
    return TargetVolume(
        name=group.text("volume_name") or f"volume {group.key}".strip(),
        site=group.coding("volume_site"),
        laterality=group.text("volume_laterality"),
        volume_type=group.text("volume_type"),
        total_dose_gy=group.dose("volume_total_dose", unit),
        dose_per_fraction_gy=group.dose("volume_dose_per_fraction", unit),
        fractions_delivered=group.integer("volume_fractions_delivered"),
        planned_total_dose_gy=group.dose("volume_planned_total_dose", unit),
        fractions_planned=group.integer("volume_fractions_planned"),
        boost=bool(group.flag("volume_boost")),
        source=f"OBX volume {group.key}".strip(),
    )


def _names(obs_list: list[Observation], table: dict[str, str], what: str, flags: list[CaseFlag]) -> list[str]:
    """Modality, technique or energy as written; a code no table knows (coded without display, or a code-like token
    as text) is flagged with the code and left out: it must never read as a technique."""
    names: list[str] = []
    for obs in obs_list:
        for rep in obs.values:
            code, display = component_of(rep, 1), component_of(rep, 2)
            if obs.value_type in CODED_TYPES:
                name = table.get(code or "") or display
                unknown = code if name is None else None
            else:
                name = obs._rep_text(rep)
                looks_coded = bool(name and _CODE_LIKE.match(name) and not _ENERGY.match(name))
                unknown = name if looks_coded and (name or "").upper() not in KNOWN_NAMES else None
                name = None if unknown else name
            if unknown:
                where = obs.where
                flags.append(CaseFlag(kind="unknown_code", where=where, detail=f"unknown {what} code {unknown}"))
            elif name:
                names.append(name)
    return names


def _phases(
    found: _Observations, unit: str, flags: list[CaseFlag] | None = None
) -> tuple[list[TargetVolume], list[Phase]]:
    flags = flags if flags is not None else []
    course_volumes: list[TargetVolume] = []
    phase_volumes: dict[str, list[TargetVolume]] = {}
    for key, group in found.group("volume").items():
        if "." in key:
            phase_volumes.setdefault(key.rsplit(".", 1)[0], []).append(_volume(group, unit))
        else:
            course_volumes.append(_volume(group, unit))
    phase_groups = found.group("phase")
    phases = []
    for key in [*phase_groups, *(k for k in phase_volumes if k not in phase_groups)]:
        group = phase_groups.get(key, _Group(key))
        phases.append(
            Phase(
                name=group.text("phase_name"),
                status=group.status("phase_status") or CourseStatus.unknown,
                status_reason=group.coding("phase_status_reason"),
                start=group.day("phase_start"),
                end=group.day("phase_end"),
                fractions_delivered=group.integer("phase_fractions_delivered"),
                fractions_planned=group.integer("phase_fractions_planned"),
                modality=", ".join(_names(group.all("phase_modality"), MODALITY_BY_CODE, "modality", flags)) or None,
                technique=", ".join(_names(group.all("phase_technique"), TECHNIQUE_BY_CODE, "technique", flags))
                or None,
                volumes=phase_volumes.get(key, []),
                source=f"OBX phase {key}",
            )
        )
    return course_volumes, phases


def _therapies(found: _Observations) -> tuple[list[SystemicTherapy], list[SystemicTherapy]]:
    before: list[SystemicTherapy] = []
    concurrent: list[SystemicTherapy] = []
    for key, group in found.group("therapy").items():
        is_concurrent = bool(group.flag("therapy_concurrent")) or bool(group.all("concurrent_agent"))
        therapy = SystemicTherapy(
            agents=[*group.texts("therapy_agent"), *group.texts("concurrent_agent")],
            dose=group.text("therapy_dose"),
            cycles=group.integer("therapy_cycles"),
            start=group.day("therapy_start"),
            end=group.day("therapy_end"),
            concurrent=is_concurrent,
            text=group.text("therapy_text"),
            source=f"OBX therapy {key}",
        )
        (concurrent if is_concurrent else before).append(therapy)
    return before, concurrent


def _brachytherapy(single: _Group, unit: str) -> Brachytherapy | None:
    if not any(role.startswith("brachy_") for role in single.by_role):
        return None
    return Brachytherapy(
        source_isotope=single.text("brachy_isotope"),
        dose_rate=single.text("brachy_dose_rate"),
        applicator=single.text("brachy_applicator"),
        total_dose_gy=single.dose("brachy_total_dose", unit),
        dose_per_fraction_gy=single.dose("brachy_dose_per_fraction", unit),
        fractions=single.integer("brachy_fractions"),
        text=single.text("brachy_text"),
    )


def _course(
    message: Message, found: _Observations, profile: Profile, pv1: Segment | None, flags: list[CaseFlag]
) -> Course:
    single = found.single
    unit = profile.default_dose_unit
    course_id = single.text("course_id") or (pv1.get(19) if pv1 else None) or message.control_id
    if not course_id:
        raise MissingElement("no course id, visit number (PV1-19) or message control id", segment="MSH", field="10")
    check_counts(len(found.group("phase")), len(found.group("volume")), segment="OBX")
    volumes, phases = _phases(found, unit, flags)
    energies = _names(single.all("course_energy"), ISOTOPE_BY_CODE, "energy", flags)
    _, concurrent = _therapies(found)
    return Course(
        id=course_id,
        name=single.text("course_name"),
        status=single.status("course_status") or CourseStatus.unknown,
        status_reason=single.coding("course_status_reason"),
        intent=single.intent("course_intent") or Intent.unknown,
        start=single.day("course_start"),
        end=single.day("course_end"),
        body_sites=[c for obs in single.all("course_body_site") for c in obs.codings()],
        laterality=single.text("course_laterality"),
        modalities=_names(single.all("course_modality"), MODALITY_BY_CODE, "modality", flags),
        techniques=_names(single.all("course_technique"), TECHNIQUE_BY_CODE, "technique", flags),
        energy=energies[0] if energies else None,
        image_guidance=single.text("course_image_guidance"),
        motion_management=single.text("course_motion_management"),
        sessions=single.integer("course_sessions"),
        reirradiation=single.flag("course_reirradiation"),
        volumes=volumes,
        phases=phases,
        concurrent_therapy=concurrent,
        brachytherapy=_brachytherapy(single, unit),
        source="OBX" if single or found.groups else None,
    )


def from_radiotherapy(message: Message, profile: Profile) -> bool:
    """The message comes from the radiotherapy department (profile ``radiotherapy_departments``) or carries an OPS
    radiotherapy procedure (PR1 8-52...)."""
    if any(is_radiotherapy_pr1(seg) for seg in message.all("PR1")):
        return True
    names = {n.strip().upper() for n in profile.radiotherapy_departments}
    pv1 = message.first("PV1")
    values = [message.msh.get(3), message.msh.get(4)]
    if pv1 is not None:
        values += [pv1.get(10), pv1.get(3)]
    return any(v and v.strip().upper() in names for v in values)


def _visit_course(message: Message, course: Course, found: _Observations, profile: Profile) -> None:
    """An ADT message from radiotherapy: OPS 8-52 PR1 is the course (name, first date), PV1-44/45 its start and end
    when nothing more specific says so, and an A03 (discharge / end of visit) means it is finished."""
    if not from_radiotherapy(message, profile):
        return
    single = found.single
    procedures = [seg for seg in message.all("PR1") if is_radiotherapy_pr1(seg)]
    if course.name is None and procedures:
        first = procedures[0]
        course.name = first.text(4) or first.get(3, 2) or first.get(3)
    pv1 = message.first("PV1")
    if course.start is None and single.first("course_start") is None:
        dates = [d for seg in procedures if (d := parse_date(seg.get(5), seg.where(5)))]
        course.start = min(dates) if dates else (parse_date(pv1.get(44), pv1.where(44)) if pv1 else None)
    if course.end is None and single.first("course_end") is None and pv1 is not None:
        course.end = parse_date(pv1.get(45), pv1.where(45))
    if single.first("course_status") is None and message.message_type.upper().startswith("ADT^A03"):
        course.status = CourseStatus.completed


# --- events, follow-up, notes ---------------------------------------------------------------------------------------


def _toxicities(found: _Observations) -> list[Toxicity]:
    toxicities = []
    for key, group in found.group("toxicity").items():
        coding = group.coding("toxicity_code")
        term = group.text("toxicity_term") or (coding.display or coding.code if coding else None)
        grade_obs = group.first("toxicity_grade")
        grade = _grade(grade_obs) if grade_obs is not None else None
        if grade is not None and not 1 <= grade <= 5:
            obs = group.first("toxicity_grade")
            raise _invalid(obs.where if obs else "OBX", "CTCAE grade must be 1 to 5")
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
                raise _invalid(seg.where(5), "CTCAE grade must be 1 to 5")
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
    if _NUMBER.match(raw.replace(",", ".")):
        return obs.integer()
    grade = grade_from_text(obs.text())
    if grade is None:
        raise _invalid(obs.where, "not a CTCAE grade (1 to 5, Grad 2, Grade II, G2)")
    found: int | None = grade
    return found


def _interruptions(found: _Observations) -> list[Interruption]:
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


def _performance(found: _Observations) -> list[PerformanceStatus]:
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
            raise _invalid(obs.where, f"{scale} must be {low} to {high}")
        statuses.append(
            PerformanceStatus(scale=scale, value=value, observed=obs.observed_date(), source=obs.where.split("-")[0])
        )
    return statuses


def _follow_up(found: _Observations) -> FollowUp:
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
    recommendations = [t for obs in found.items if obs.role == "recommendation" for t in [obs.text()] if t]
    return FollowUp(appointments=appointments, recommendations=recommendations)


def _notes(message: Message, found: _Observations) -> list[Note]:
    notes = []
    is_document = message.first("TXA") is not None
    for obs in found.items:
        if obs.role == "note":
            text = obs.text()
            if text:
                author = _xcn_name(obs.responsible)
                notes.append(
                    Note(text=text, author=author, written=obs.observed_date(), source=obs.where.split("-")[0])
                )
    if is_document:
        document = _document(message, found)
        if document.text:
            notes.append(Note(text=document.text, author=document.author, written=document.activity, source="TXA"))
    else:
        for seg, value_type in found.unclaimed_text:
            if value_type in TEXT_TYPES:
                text = _obx_text(seg)
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


def _prior(found: _Observations, unit: str) -> list[PriorRadiotherapy]:
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


def _physicians(message: Message, found: _Observations) -> tuple[Physician | None, Physician | None, list[Physician]]:
    pv1 = message.first("PV1")
    obr = message.first("OBR")
    orc = message.first("ORC")
    treating = physician_from_xcn(_first_rep(pv1, 7), "PV1-7")
    referring = (
        physician_from_xcn(_first_rep(pv1, 8), "PV1-8")
        or physician_from_xcn(_first_rep(obr, 16), "OBR-16")
        or physician_from_xcn(_first_rep(orc, 12), "ORC-12")
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


# --- MDM documents --------------------------------------------------------------------------------------------------


class Document(BaseModel):
    """The document an MDM message carries (TXA) and its text content (TX/FT/ST OBX)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_type: str | None = None  # TXA-2 (table 0270: DS discharge summary, PN progress note ...)
    status: str | None = None  # TXA-17 completion status (table 0271: IP, DI, DO, AU, LA ...)
    unique_id: str | None = None  # TXA-12
    activity: date | None = None  # TXA-4 activity date
    author: str | None = None  # TXA-9 originator (else TXA-5 primary activity provider)
    text: str | None = None


def _document(message: Message, found: _Observations) -> Document:
    txa = message.first("TXA")
    if txa is None:
        raise MissingElement("no TXA segment", segment="TXA")
    lines = [t for t in (_obx_text(seg) for seg, _ in found.unclaimed_text) if t]
    return Document(
        document_type=txa.get(2),
        status=txa.get(17),
        unique_id=txa.get(12),
        activity=parse_date(txa.get(4), txa.where(4)),
        author=_xcn_name(_first_rep(txa, 9)) or _xcn_name(_first_rep(txa, 5)),
        text="\n".join(lines) or None,
    )


def document_from_v2(message: bytes | str, profile: Profile | None = None) -> Document | None:
    """The TXA document of an MDM message (its completion status TXA-17 and text), or None without TXA."""
    profile = profile or default_profile()
    parsed = parse(message, default_encoding=profile.default_encoding, keep=MAPPED_SEGMENTS | profile.z_segments)
    if parsed.first("TXA") is None:
        return None
    return _document(parsed, _collect(parsed, profile))


# --- the case -------------------------------------------------------------------------------------------------------


def case_from_message(message: Message, profile: Profile | None = None) -> Case:
    """A parsed message -> the case (see ``case_from_v2``)."""
    profile = profile or default_profile()
    pid = message.first("PID")
    if pid is None:
        raise MissingElement("no PID segment (message truncated?)", segment="PID")
    found = _collect(message, profile)
    pv1 = message.first("PV1")
    treating, referring, copies = _physicians(message, found)
    flags: list[CaseFlag] = []
    course = _course(message, found, profile, pv1, flags)
    _visit_course(message, course, found, profile)
    before, _ = _therapies(found)
    language = (message.msh.get(19) or "")[:2].lower()
    case = Case(
        case_id=f"hl7v2:{course.id}",
        source_kind="hl7v2",
        language="de" if language == "de" else "en" if language == "en" else profile.language,
        patient=map_patient(pid),
        treating_physician=treating,
        referring_physician=referring,
        copies_to=copies,
        diagnoses=_diagnoses(message, found),
        surgeries=_surgeries(message, found),
        systemic_therapies=before,
        prior_radiotherapy=_prior(found, profile.default_dose_unit),
        course=course,
        toxicities=_toxicities(found),
        interruptions=_interruptions(found),
        performance_status=_performance(found),
        follow_up=_follow_up(found),
        notes=_notes(message, found),
        inputs=[f"{message.message_type}/{message.control_id}" if message.control_id else message.message_type],
        flags=flags,
    )
    return finish_case(case)


def case_from_v2(message: bytes | str, profile: Profile | None = None) -> Case:
    """One HL7 v2 message (bytes in any MSH-18 character set, or text) -> the case.

    A message without radiotherapy data gives a partial case: patient, physicians, diagnoses, surgeries, notes and
    ``course=Course(id=<PV1-19 or MSH-10>, status=unknown)``. ``case_id`` is ``"hl7v2:" + course id``.

    Raises:
        UnsupportedInput: not an HL7 v2 message, a batch (use ``split_batch``), an unsupported version.
        MissingElement: no PID, no patient identifier, no course id at all.
        InvalidValue: wrong encoding, a course value of the wrong type (``OBX[3]-5: not a number``).
    """
    profile = profile or default_profile()
    parsed = parse(message, default_encoding=profile.default_encoding, keep=MAPPED_SEGMENTS | profile.z_segments)
    return case_from_message(parsed, profile)
