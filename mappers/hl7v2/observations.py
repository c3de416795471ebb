"""OBX and Z-segment fields that carry a profile role, collected per group and sub-id (OBX-4).

The site profile (``profile``) says which OBX-3 code or Z-segment field holds which role (``course_total_dose``,
``volume_name`` ...). ``collect_observations`` sorts a message's OBX into one group per item: the course (no group),
``volume``/``phase``/``therapy``... by OBX-4 sub-id, and single items (ECOG, a recommendation, a note). OBX that no
role claims are kept only when they are a coded toxicity (OBX-3 a CTCAE/MedDRA term) or text (TX/FT/ST).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from rtletter.mappers.case import Coding, CourseStatus, Intent, Sex
from rtletter.mappers.codes import canonical_system
from rtletter.mappers.hl7v2.message import Message, Repetition, Segment, component_of
from rtletter.mappers.hl7v2.profile import Profile, role_group
from rtletter.mappers.hl7v2.values import (
    CODED_TYPES,
    DOSE_UNITS,
    FLAG_WORDS,
    INTENT_WORDS,
    SEX_CODES,
    STATUS_WORDS,
    TEXT_TYPES,
    invalid_value,
    parse_date,
    parse_int,
    parse_number,
    parse_when,
)
from rtletter.mappers.toxicity import is_toxicity_system


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

    @property
    def segment(self) -> str:
        """The OBX it is in ("OBX[3]"): a case value's ``source``."""
        return self.where.split("-")[0]

    def text(self) -> str | None:
        """The value as text: TX repetitions are lines; a coded value gives its display (else its code)."""
        lines = [t for t in (self.repetition_text(rep) for rep in self.values) if t]
        return "\n".join(lines) or None

    def texts(self) -> list[str]:
        return [t for t in (self.repetition_text(rep) for rep in self.values) if t]

    def repetition_text(self, rep: Repetition) -> str | None:
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
        day: date | None = parse_date(self.raw(), self.where)
        return day

    def when(self) -> date | datetime | None:
        raw = self.raw()
        return parse_when(raw, self.where) if raw else None

    def integer(self) -> int | None:
        number: int | None = parse_int(self.raw(), self.where)
        return number

    def dose(self, default_unit: str) -> float | None:
        value: float | None = parse_number(self.raw(), self.where)
        if value is None:
            return None
        unit = (self.unit or default_unit).strip().upper()
        if unit not in DOSE_UNITS:
            raise invalid_value(self.where.rsplit("-", 1)[0] + "-6", "dose unit is neither Gy nor cGy")
        return round(value * DOSE_UNITS[unit], 10) if unit != "GY" else value

    def flag(self) -> bool | None:
        raw = self.raw()
        if raw is None:
            return None
        if raw.strip().upper() not in FLAG_WORDS:
            raise invalid_value(self.where, "not a yes/no flag (Y or N)")
        flag: bool = FLAG_WORDS[raw.strip().upper()]
        return flag

    def observed_date(self) -> date | None:
        if not self.observed:
            return None
        observed: date | None = parse_date(self.observed, self.where.rsplit("-", 1)[0] + "-14")
        return observed


class ObservationGroup:
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
    raise invalid_value(obs.where, message)


@dataclass
class Observations:
    single: ObservationGroup = field(default_factory=lambda: ObservationGroup(""))
    groups: dict[str, dict[str, ObservationGroup]] = field(default_factory=dict)
    items: list[Observation] = field(default_factory=list)  # one item per OBX: ecog, karnofsky, recommendation, note
    coded_toxicities: list[Segment] = field(default_factory=list)  # OBX-3 a CTCAE/MedDRA term no role claims
    unclaimed_text: list[tuple[Segment, str]] = field(default_factory=list)  # TX/FT OBX no role claims

    def group(self, name: str) -> dict[str, ObservationGroup]:
        return self.groups.get(name, {})

    def add(self, obs: Observation) -> None:
        group = role_group(obs.role)
        if group is None:
            self.single.add(obs)
        elif group == "item":
            self.items.append(obs)
        else:
            by_key = self.groups.setdefault(group, {})
            by_key.setdefault(obs.sub_id, ObservationGroup(obs.sub_id)).add(obs)


def collect_observations(message: Message, profile: Profile) -> Observations:
    found = Observations()
    for seg in message.segments:
        if seg.name == "OBX":
            role = profile.role_of(seg.get(3, 1), seg.get(3, 3))
            value_type = (seg.get(2) or "").upper()
            if role is None and is_toxicity_system(canonical_system(seg.get(3, 3))):
                found.coded_toxicities.append(seg)
                continue
            if role is None:
                text = obx_text(seg) if value_type in TEXT_TYPES or value_type == "ST" else None
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
                    responsible=next(iter(seg.repetitions(16)), None),
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


def obx_text(seg: Segment) -> str | None:
    lines = [t for t in (seg.text(5, i) for i in range(len(seg.repetitions(5)))) if t]
    return "\n".join(lines) or None
