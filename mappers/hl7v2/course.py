"""The course from the profile's OBX/Z-segment roles: volumes, phases, doses, modality and technique, therapies.

Course data is strict: a dose that is not a number raises ``InvalidValue`` naming ``OBX[n]-5``. A modality,
technique or energy code no table knows is flagged and left out, never read as a name. An ADT message from the
radiotherapy department (``from_radiotherapy``) gives the course its name and dates from PR1 and PV1-44/45.
"""

from __future__ import annotations

import re

from rtletter.mappers.case import (
    Brachytherapy,
    CaseFlag,
    Course,
    CourseStatus,
    Intent,
    Phase,
    SystemicTherapy,
    TargetVolume,
)
from rtletter.mappers.checks import check_counts
from rtletter.mappers.codes import ISOTOPE_BY_CODE, MODALITY_BY_CODE, TECHNIQUE_BY_CODE
from rtletter.mappers.errors import MissingElement
from rtletter.mappers.hl7v2.diagnoses import is_radiotherapy_pr1
from rtletter.mappers.hl7v2.message import Message, Segment, component_of
from rtletter.mappers.hl7v2.observations import Observation, ObservationGroup, Observations
from rtletter.mappers.hl7v2.profile import Profile
from rtletter.mappers.hl7v2.values import CODED_TYPES, parse_date

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


def _volume(group: ObservationGroup, unit: str) -> TargetVolume:
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
                name = obs.repetition_text(rep)
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
    found: Observations, unit: str, flags: list[CaseFlag] | None = None
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
        group = phase_groups.get(key, ObservationGroup(key))
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


def map_therapies(found: Observations) -> tuple[list[SystemicTherapy], list[SystemicTherapy]]:
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


def _brachytherapy(single: ObservationGroup, unit: str) -> Brachytherapy | None:
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


def map_course(
    message: Message, found: Observations, profile: Profile, pv1: Segment | None, flags: list[CaseFlag]
) -> Course:
    single = found.single
    unit = profile.default_dose_unit
    course_id = single.text("course_id") or (pv1.get(19) if pv1 else None) or message.control_id
    if not course_id:
        raise MissingElement("no course id, visit number (PV1-19) or message control id", segment="MSH", field="10")
    check_counts(len(found.group("phase")), len(found.group("volume")), segment="OBX")
    volumes, phases = _phases(found, unit, flags)
    energies = _names(single.all("course_energy"), ISOTOPE_BY_CODE, "energy", flags)
    _, concurrent = map_therapies(found)
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


def fill_from_visit(message: Message, course: Course, found: Observations, profile: Profile) -> None:
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
