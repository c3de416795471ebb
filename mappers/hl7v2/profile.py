"""The site-specific part of the HL7 v2 mapping, as configuration.

Oncology information systems put radiotherapy data into OBX segments (ORU^R01, MDM) or Z-segments, each with its own
codes. A ``Profile`` says which OBX-3 codes (and coding system) or which Z-segment fields carry which *role*: course
id, status, per-volume doses, toxicities, appointments ... Roles that describe one item of a list (a target volume, a
toxicity, an appointment) are grouped by OBX-4 (observation sub-id): every OBX with sub-id ``2`` and a volume role
belongs to the second volume. A volume whose sub-id is ``<phase>.<n>`` belongs to the phase with sub-id ``<phase>``.

The default profile (``profiles/default.yaml``, documented in ``docs/hl7v2-profile.md``) is what ``v2_from_case``
writes. A site copies it and changes the codes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from rtletter.mappers.errors import InvalidValue, UnsupportedInput

# How a role's value is read and written (OBX-2 value type in brackets):
# text [ST/TX/FT], code [CWE: code^display^system], date [DT], when [TS: a date or a date-time], dose [NM + OBX-6 Gy or
# cGy], int [NM], flag [ST: Y/N], status / intent [ST, a CourseStatus / Intent value], sex [ST, HL7 table 0001].
Kind = Literal["text", "code", "date", "when", "dose", "int", "flag", "status", "intent", "sex"]

# role -> (kind, group). Group None: one value for the course; "*" after a kind means several values are kept.
ROLES: dict[str, tuple[str, str | None]] = {
    # the course (CodeX RT course summary)
    "course_id": ("text", None),
    "course_name": ("text", None),
    "course_status": ("status", None),
    "course_status_reason": ("code", None),
    "course_intent": ("intent", None),
    "course_start": ("date", None),
    "course_end": ("date", None),
    "course_body_site": ("code*", None),
    "course_laterality": ("text", None),
    "course_modality": ("text*", None),
    "course_technique": ("text*", None),
    "course_energy": ("text", None),
    "course_image_guidance": ("text", None),
    "course_motion_management": ("text", None),
    "course_sessions": ("int", None),
    "course_reirradiation": ("flag", None),
    # target volumes: sub-id n (course totals) or p.n (volume n of phase p)
    "volume_name": ("text", "volume"),
    "volume_site": ("code", "volume"),
    "volume_laterality": ("text", "volume"),
    "volume_type": ("text", "volume"),
    "volume_total_dose": ("dose", "volume"),
    "volume_dose_per_fraction": ("dose", "volume"),
    "volume_fractions_delivered": ("int", "volume"),
    "volume_planned_total_dose": ("dose", "volume"),
    "volume_fractions_planned": ("int", "volume"),
    "volume_boost": ("flag", "volume"),
    # treated phases (CodeX TreatedPhase)
    "phase_name": ("text", "phase"),
    "phase_status": ("status", "phase"),
    "phase_status_reason": ("code", "phase"),
    "phase_start": ("date", "phase"),
    "phase_end": ("date", "phase"),
    "phase_fractions_delivered": ("int", "phase"),
    "phase_fractions_planned": ("int", "phase"),
    "phase_modality": ("text", "phase"),
    "phase_technique": ("text", "phase"),
    # brachytherapy (one per course)
    "brachy_isotope": ("text", None),
    "brachy_dose_rate": ("text", None),
    "brachy_applicator": ("text", None),
    "brachy_total_dose": ("dose", None),
    "brachy_dose_per_fraction": ("dose", None),
    "brachy_fractions": ("int", None),
    "brachy_text": ("text", None),
    # systemic therapy: therapy_concurrent Y puts it into the course's concurrent therapy
    "therapy_agent": ("text*", "therapy"),
    "concurrent_agent": ("text*", "therapy"),  # an agent given with the course (implies therapy_concurrent Y)
    "therapy_dose": ("text", "therapy"),
    "therapy_cycles": ("int", "therapy"),
    "therapy_start": ("date", "therapy"),
    "therapy_end": ("date", "therapy"),
    "therapy_concurrent": ("flag", "therapy"),
    "therapy_text": ("text", "therapy"),
    # prior radiotherapy (re-irradiation context)
    "prior_region": ("text", "prior"),
    "prior_total_dose": ("dose", "prior"),
    "prior_fractions": ("int", "prior"),
    "prior_start": ("date", "prior"),
    "prior_end": ("date", "prior"),
    "prior_text": ("text", "prior"),
    # diagnoses; a sub-id equal to a DG1-1 set id adds to that DG1's diagnosis
    "diagnosis_code": ("code", "diagnosis"),
    "diagnosis_text": ("text", "diagnosis"),
    "diagnosis_role": ("text", "diagnosis"),
    "diagnosis_date": ("date", "diagnosis"),
    "diagnosis_laterality": ("text", "diagnosis"),
    "diagnosis_histology": ("code", "diagnosis"),
    "diagnosis_grade": ("text", "diagnosis"),
    "diagnosis_tnm": ("text", "diagnosis"),
    "diagnosis_stage": ("text", "diagnosis"),
    "diagnosis_receptor_status": ("text", "diagnosis"),
    # surgeries (besides PR1 segments)
    "surgery_text": ("text", "surgery"),
    "surgery_code": ("code", "surgery"),
    "surgery_date": ("date", "surgery"),
    # course events
    "toxicity_term": ("text", "toxicity"),
    "toxicity_code": ("code", "toxicity"),
    "toxicity_grade": ("int", "toxicity"),
    "toxicity_severity": ("text", "toxicity"),
    "toxicity_onset": ("date", "toxicity"),
    "interruption_start": ("date", "interruption"),
    "interruption_end": ("date", "interruption"),
    "interruption_days": ("int", "interruption"),
    "interruption_reason": ("text", "interruption"),
    # one OBX each; OBX-14 is the observation date
    "ecog": ("int", "item"),
    "karnofsky": ("int", "item"),
    # follow-up
    "appointment_when": ("when", "appointment"),
    "appointment_kind": ("text", "appointment"),
    "appointment_text": ("text", "appointment"),
    "recommendation": ("text", "item"),
    # free text; OBX-14 written, OBX-16 author
    "note": ("text", "item"),
    # physicians (PV1-7, PV1-8, OBR-28) carry no sex, organisation or address: sub-id treating | referring | copy<n>
    "physician_sex": ("sex", "physician"),
    "physician_organization": ("text", "physician"),
    "physician_address": ("text", "physician"),
}


def role_kind(role: str) -> str:
    return ROLES[role][0].rstrip("*")


def role_repeats(role: str) -> bool:
    return ROLES[role][0].endswith("*")


def role_group(role: str) -> str | None:
    return ROLES[role][1]


class Code(BaseModel):
    """An OBX-3 code; ``system`` None matches any OBX-3.3 (and takes the profile's ``coding_system`` when written)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    system: str | None = None
    display: str | None = None  # OBX-3.2 when written


class ZField(BaseModel):
    """A Z-segment field that carries a role: ``ZRT-3``; the Z-segment's occurrence number is the group's sub-id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: str
    field: int = Field(ge=1)
    unit: str | None = None  # for doses: Gy or cGy (else the profile's default_dose_unit)


class Profile(BaseModel):
    """Which OBX codes and Z-segment fields carry which role at one site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str | None = None
    default_encoding: str = "utf-8"  # when MSH-18 is empty
    language: Literal["de", "en"] = "de"  # when MSH-19 says neither
    coding_system: str = "99RTL"  # OBX-3.3 of codes given without a system (HL7: 99zzz = local)
    default_dose_unit: Literal["Gy", "cGy"] = "Gy"  # when OBX-6 is empty
    sending_application: str = "RTLETTER"  # MSH-3 when writing
    # Who the radiotherapy department is: matched (case-insensitively) against PV1-10 hospital service, PV1-3.1 point
    # of care, MSH-3 sending application and MSH-4 sending facility. An ADT^A03 from it ends a course.
    radiotherapy_departments: list[str] = Field(default_factory=lambda: ["STR", "RTH", "RADONC", "STRAHLENTHERAPIE"])
    observations: dict[str, list[Code]] = Field(default_factory=dict)  # role -> codes; the first is written
    z_fields: dict[str, ZField] = Field(default_factory=dict)
    _index: dict[tuple[str, str | None], str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for role, codes in self.observations.items():
            for code in codes:
                key = (code.code.strip().upper(), code.system.strip().upper() if code.system else None)
                self._index.setdefault(key, role)

    @field_validator("observations", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        """``role: CODE`` or ``role: {code, system}`` or a list of either."""
        if not isinstance(value, dict):
            return value
        out: dict[str, list[Any]] = {}
        for role, codes in value.items():
            items = codes if isinstance(codes, list) else [codes]
            out[role] = [{"code": c} if isinstance(c, str) else c for c in items]
        return out

    @field_validator("z_fields", mode="before")
    @classmethod
    def _z_fields(cls, value: Any) -> Any:
        """``role: ZRT-3`` or ``role: {segment: ZRT, field: 3, unit: cGy}``."""
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for role, spec in value.items():
            if isinstance(spec, str):
                segment, _, number = spec.partition("-")
                out[role] = {"segment": segment.strip(), "field": number.strip() or 0}
            else:
                out[role] = spec
        return out

    @model_validator(mode="after")
    def _known_roles(self) -> Profile:
        unknown = sorted((set(self.observations) | set(self.z_fields)) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles: {', '.join(unknown)}")
        for role, z in self.z_fields.items():
            if not (len(z.segment) == 3 and z.segment.startswith("Z")):
                raise ValueError(f"{role}: {z.segment} is not a Z-segment")
        return self

    @property
    def z_segments(self) -> frozenset[str]:
        return frozenset(z.segment for z in self.z_fields.values())

    def code_for(self, role: str) -> Code:
        """The code ``v2_from_case`` writes for a role (the first listed, with the profile's coding system)."""
        codes = self.observations.get(role)
        if not codes:
            raise UnsupportedInput(f"the profile {self.name} has no OBX code for {role}")
        first = codes[0]
        return first if first.system else first.model_copy(update={"system": self.coding_system})

    def role_of(self, code: str | None, system: str | None) -> str | None:
        """The role an OBX-3 code carries: an exact (code, system) match first, then a code listed without system."""
        if not code:
            return None
        key = code.strip().upper()
        if system:
            found = self._index.get((key, system.strip().upper()))
            if found:
                return found
        return self._index.get((key, None))


def load_profile(path: str | Path) -> Profile:
    """A profile from a YAML file. Raises InvalidValue naming the file's problem (not its values)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidValue(f"profile {Path(path).name} could not be read ({type(exc).__name__})") from exc
    return _profile_from(raw, Path(path).name)


def _profile_from(raw: object, label: str) -> Profile:
    if not isinstance(raw, dict):
        raise InvalidValue(f"profile {label} is not a mapping")
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidValue(f"profile {label}: {problems}") from exc


@cache
def default_profile() -> Profile:
    """The profile shipped in ``profiles/default.yaml``; ``v2_from_case`` writes it."""
    text = resources.files("rtletter.mappers.profiles").joinpath("default.yaml").read_text(encoding="utf-8")
    return _profile_from(yaml.safe_load(text), "default.yaml")
