"""Rules every mapped case passes, whichever mapper made it and whichever channel brought it.

- ``finish_case``: derive what the source implies but does not say (dose per fraction = total / fractions), flag what
  a reviewer must see (a ratio that is not a clean dose), and refuse a course whose shape is implausible
  (``ImplausibleCourse``: the input is quarantined with the reason, never drafted).
- ``why_not_drafted``: the one rule that decides, for every channel, whether a mapped case becomes a letter job.

Messages name resource/segment, element and figures, never names or free text (they end up in logs).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rtletter.mappers.case import Case, CaseFlag, Course, CourseStatus, TargetVolume, format_gy
from rtletter.mappers.errors import InvalidValue

MAX_PHASES = 50
MAX_VOLUMES = 50  # per course and per phase
MAX_TOTAL_DOSE_GY = 200.0  # to one volume; permanent seed implants reach about 145 Gy
FINISHED = frozenset({CourseStatus.completed, CourseStatus.stopped})


class ImplausibleCourse(InvalidValue):
    """The course is well formed but its shape cannot be real: quarantine it with the reason, never draft it."""


def check_counts(phases: int, volumes: int, *, resource: str | None = None, segment: str | None = None) -> None:
    """Early check, before a mapper spends time on each phase (a bundle with 1,000 phases)."""
    if phases > MAX_PHASES:
        raise ImplausibleCourse(
            f"implausible course: {phases} phases (more than {MAX_PHASES})",
            resource=resource,
            element="partOf" if resource else None,
            segment=segment,
        )
    if volumes > MAX_VOLUMES:
        raise ImplausibleCourse(
            f"implausible course: {volumes} volumes (more than {MAX_VOLUMES})",
            resource=resource,
            element="extension" if resource else None,
            segment=segment,
        )


def finish_case(case: Case, not_uniform: Collection[int] = ()) -> Case:
    """Derive doses per fraction, add flags, and raise ``ImplausibleCourse`` for an implausible course.
    ``not_uniform``: ``id()`` of volumes the source says were not uniformly fractionated (no average is derived)."""
    where = _where(case)
    course = case.course
    _check_course(course, bool(case.notes), where)
    skip = {*not_uniform, *_mixed_per_fraction(course)}
    for label, volume in _volumes(course):
        if id(volume) not in skip:
            _derive_per_fraction(volume, label, where, case.flags)
    return case


def _mixed_per_fraction(course: Course) -> set[int]:
    """``id()`` of course volumes whose phases give them different doses per fraction (a plan change: 3 × 1,8 Gy
    then 4 × 2 Gy): not uniform, though HL7 v2 has no flag to say so; an average (13,4 Gy / 7 = 1,91 Gy) would be a
    value no plan had."""
    seen: dict[str | None, set[float]] = {}
    for phase in course.phases:
        for volume in phase.volumes:
            if volume.dose_per_fraction_gy is not None:
                seen.setdefault(volume.name, set()).add(volume.dose_per_fraction_gy)
    return {id(v) for v in course.volumes if len(seen.get(v.name, ())) > 1}


def why_not_drafted(case: Case) -> str | None:
    """None when the case becomes a letter job; else the reason it does not (stored, visible, no job)."""
    if case.course.status not in FINISHED:
        return f"course status {case.course.status}: only a completed or stopped course is drafted"
    return None


def split_drafted(cases: Sequence[Case]) -> tuple[list[Case], list[str]]:
    """(cases that become jobs, reasons for the others); no case at all is a reason too."""
    kept: list[Case] = []
    reasons: list[str] = []
    for case in cases:
        reason = why_not_drafted(case)
        if reason is None:
            kept.append(case)
        else:
            reasons.append(reason)
    if not cases:
        reasons.append("no radiotherapy course in the input")
    return kept, reasons


# --- helpers --------------------------------------------------------------------------------------------------------


def _where(case: Case) -> dict[str, str]:
    if case.source_kind == "hl7v2":
        return {"segment": "OBX"}
    return {"resource": "Procedure", "element": "extension"}


def _volumes(course: Course) -> Iterable[tuple[str, TargetVolume]]:
    for i, volume in enumerate(course.volumes, start=1):
        yield f"volume {i}", volume
    for p, phase in enumerate(course.phases, start=1):
        for i, volume in enumerate(phase.volumes, start=1):
            yield f"phase {p} volume {i}", volume


def _check_course(course: Course, has_note: bool, where: dict[str, str]) -> None:
    check_counts(len(course.phases), len(course.volumes), **_count_where(where))
    for p, phase in enumerate(course.phases, start=1):
        if len(phase.volumes) > MAX_VOLUMES:
            check_counts(0, len(phase.volumes), **_count_where(where))
        if phase.start and phase.end and phase.end < phase.start:
            raise ImplausibleCourse(f"implausible course: phase {p} ends before it starts", **_period_where(where))
        explained = has_note or phase.status_reason is not None or course.status_reason is not None
        if _over(phase.fractions_delivered, phase.fractions_planned) and not explained:
            raise ImplausibleCourse(
                f"implausible course: phase {p} delivered {phase.fractions_delivered} fractions of "
                f"{phase.fractions_planned} planned, without a note",
                **where,
            )
    if course.start and course.end and course.end < course.start:
        raise ImplausibleCourse("implausible course: it ends before it starts", **_period_where(where))
    for label, volume in _volumes(course):
        for kind, dose in (("delivered", volume.total_dose_gy), ("planned", volume.planned_total_dose_gy)):
            if dose is not None and dose > MAX_TOTAL_DOSE_GY:
                raise ImplausibleCourse(
                    f"implausible course: {label} {kind} total dose {format_gy(dose)} Gy "
                    f"(more than {format_gy(MAX_TOTAL_DOSE_GY)} Gy)",
                    **where,
                )
        if _over(volume.fractions_delivered, volume.fractions_planned) and not has_note:
            raise ImplausibleCourse(
                f"implausible course: {label} delivered {volume.fractions_delivered} fractions of "
                f"{volume.fractions_planned} planned, without a note",
                **where,
            )


def _count_where(where: dict[str, str]) -> dict[str, str]:
    return {"segment": where["segment"]} if "segment" in where else {"resource": where["resource"]}


def _period_where(where: dict[str, str]) -> dict[str, str]:
    return where if "segment" in where else {"resource": "Procedure", "element": "performedPeriod"}


def _over(delivered: int | None, planned: int | None) -> bool:
    return delivered is not None and planned is not None and delivered > planned


def _derive_per_fraction(volume: TargetVolume, label: str, where: dict[str, str], flags: list[CaseFlag]) -> None:
    """Dose per fraction = total / fractions when the source gives only those (delivered, else planned). A ratio
    that is not a whole number of centigray is not rounded into the letter: it stays unknown and is flagged."""
    if volume.dose_per_fraction_gy is not None:
        return
    for total, fractions in (
        (volume.total_dose_gy, volume.fractions_delivered),
        (volume.planned_total_dose_gy, volume.fractions_planned),
    ):
        if total is None or not fractions:
            continue
        ratio = total / fractions
        cents = ratio * 100
        if abs(cents - round(cents)) < 1e-6:
            volume.dose_per_fraction_gy = round(ratio, 2)
        else:
            place = where.get("segment") or f"{where['resource']}.{where['element']}"
            flags.append(
                CaseFlag(
                    kind="dose_ratio",
                    where=place,
                    detail=f"{label}: {format_gy(total)} Gy / {fractions} fractions = {ratio:.4f} Gy per fraction, "
                    "not a whole centigray: dose per fraction left unknown",
                )
            )
        return


__all__ = [
    "FINISHED",
    "MAX_PHASES",
    "MAX_TOTAL_DOSE_GY",
    "MAX_VOLUMES",
    "ImplausibleCourse",
    "check_counts",
    "finish_case",
    "split_drafted",
    "why_not_drafted",
]
