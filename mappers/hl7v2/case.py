"""One HL7 v2 message -> the case: PID, PV1, DG1, PR1, OBX, AL1, NTE, ORC/OBR, TXA, and profile Z-segments.

``case_from_v2(message, profile)`` maps one message. Standard segments are read the same at every site (``people``:
PID, PV1, OBR, ORC; ``diagnoses``: DG1, PR1; ``events``: NTE, AL1, TXA text; PV1-19 visit number is the course id
when no profile code carries one).

Radiotherapy data (course, volumes, doses, toxicities, appointments ...) comes from OBX or Z-segments as the profile
says (``profile``, collected by ``observations``, mapped by ``course`` and ``events``). OBX that no profile code
claims are ignored, except TX/FT text which becomes a note. Demographic data is tolerant, course data is strict.
"""

from __future__ import annotations

from rtletter.mappers.case import Case, CaseFlag
from rtletter.mappers.checks import finish_case
from rtletter.mappers.errors import MissingElement
from rtletter.mappers.hl7v2.course import fill_from_visit, map_course, map_therapies
from rtletter.mappers.hl7v2.diagnoses import map_diagnoses, map_surgeries
from rtletter.mappers.hl7v2.events import (
    map_follow_up,
    map_interruptions,
    map_notes,
    map_performance_status,
    map_prior_radiotherapy,
    map_toxicities,
)
from rtletter.mappers.hl7v2.message import MAPPED_SEGMENTS, Message, parse
from rtletter.mappers.hl7v2.observations import collect_observations
from rtletter.mappers.hl7v2.people import map_patient, map_physicians
from rtletter.mappers.hl7v2.profile import Profile, default_profile


def case_from_message(message: Message, profile: Profile | None = None) -> Case:
    """A parsed message -> the case (see ``case_from_v2``)."""
    profile = profile or default_profile()
    pid = message.first("PID")
    if pid is None:
        raise MissingElement("no PID segment (message truncated?)", segment="PID")
    found = collect_observations(message, profile)
    pv1 = message.first("PV1")
    treating, referring, copies = map_physicians(message, found)
    flags: list[CaseFlag] = []
    course = map_course(message, found, profile, pv1, flags)
    fill_from_visit(message, course, found, profile)
    before, _ = map_therapies(found)
    language = (message.msh.get(19) or "")[:2].lower()
    case = Case(
        case_id=f"hl7v2:{course.id}",
        source_kind="hl7v2",
        language="de" if language == "de" else "en" if language == "en" else profile.language,
        patient=map_patient(pid),
        treating_physician=treating,
        referring_physician=referring,
        copies_to=copies,
        diagnoses=map_diagnoses(message, found),
        surgeries=map_surgeries(message, found),
        systemic_therapies=before,
        prior_radiotherapy=map_prior_radiotherapy(found, profile.default_dose_unit),
        course=course,
        toxicities=map_toxicities(found),
        interruptions=map_interruptions(found),
        performance_status=map_performance_status(found),
        follow_up=map_follow_up(found),
        notes=map_notes(message, found),
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
