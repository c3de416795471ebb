"""The case -> one ORU^R01 v2.5.1 end-of-treatment message in a profile (the default profile unless given).

Layout (HL7 v2.5.1 ORU_R01: MSH, PATIENT_RESULT{PATIENT{PID, VISIT{PV1}}, ORDER_OBSERVATION{OBR, OBSERVATION{OBX}}}):

- MSH: MSH-7 = ``timestamp``, MSH-10 = ``control_id`` (both passed in: deterministic), MSH-18 = the character set
  (``UNICODE UTF-8``, ``8859/1``, ``ASCII``), MSH-19 = the letter language (ISO 639).
- PID: PID-3 id (type MR), PID-5 name (type L), PID-7 birth date, PID-8 sex, PID-11 address (one line in XAD.1),
  PID-30 death indicator.
- PV1: PV1-7 treating physician, PV1-8 referring physician.
- OBR: OBR-3 course id, OBR-4 RT-EOT, OBR-7/8 course start/end, OBR-25 F, OBR-28 copies.
- OBX: everything else, one fact per OBX, codes from the profile; list items grouped by OBX-4 (sub-id).

Diagnoses and surgeries are OBX too: ORU_R01 has no place for DG1 or PR1. Segments end with CR; text is escaped.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from rtletter.mappers.case import (
    Case,
    Coding,
    Diagnosis,
    Phase,
    Physician,
    Sex,
    SystemicTherapy,
    TargetVolume,
)
from rtletter.mappers.codes import v2_system_name
from rtletter.mappers.errors import InvalidValue, UnsupportedInput
from rtletter.mappers.hl7v2.message import MSH18_FOR_CODEC, EncodingCharacters, codec_for, escape
from rtletter.mappers.hl7v2.profile import Profile, default_profile, role_kind
from rtletter.mappers.hl7v2.values import SEX_TO_V2

VERSION = "2.5.1"
RESULT_CODE = ("RT-EOT", "Radiotherapy end-of-treatment summary")
CHARS = EncodingCharacters()
# OBX-2 value type per role kind (HL7 table 0125).
VALUE_TYPES: dict[str, str] = {
    "text": "ST",
    "code": "CWE",
    "date": "DT",
    "when": "TS",
    "dose": "NM",
    "int": "NM",
    "flag": "ST",
    "status": "ST",
    "intent": "ST",
    "sex": "ST",
}
DOSE_UNIT = "Gy^Gy^UCUM"  # the case holds Gy


def _e(value: str | None) -> str:
    return escape(value, CHARS) if value else ""


def _dt(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _ts(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    text = value.strftime("%Y%m%d%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"[:5]  # DTM keeps 4 fractional digits
    if value.utcoffset() is not None:
        text += value.strftime("%z")
    return text


def _number(value: float | int) -> str:
    """NM text that reads back to the same float: shortest repr, never exponent notation."""
    return format(Decimal(repr(value)), "f")


def _cwe(coding: Coding | None) -> str:
    if coding is None:
        return ""
    return "^".join([_e(coding.code), _e(coding.display), _e(v2_system_name(coding.system))]).rstrip("^")


def _xcn(physician: Physician | None) -> str:
    if physician is None:
        return ""
    parts = [_e(physician.id), _e(physician.family), _e(physician.given), "", "", _e(physician.prefix)]
    return "^".join(parts).rstrip("^")


class _Message:
    """Collects segments (lists of escaped field strings) and the OBX set id."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.segments: list[list[str]] = []
        self.obx_count = 0

    def segment(self, name: str, *fields: str) -> None:
        values = [name, *fields]
        while len(values) > 1 and values[-1] == "":
            values.pop()
        self.segments.append(values)

    def obx(
        self,
        role: str,
        value: object,
        sub_id: str = "",
        *,
        observed: date | None = None,
        responsible: str = "",
    ) -> None:
        """One OBX for a role; nothing when the value is None (or an empty list)."""
        if value is None or value == "" or value == []:
            return
        kind = role_kind(role)
        value_type = VALUE_TYPES[kind]
        unit = ""
        if kind == "text":
            text = str(value)
            rendered = _e(text)
            value_type = "FT" if "\n" in text or "\r" in text else "ST"
        elif kind == "code" and isinstance(value, Coding):
            rendered = _cwe(value)
        elif kind == "date" and isinstance(value, date):
            rendered = _dt(value)
        elif kind == "when" and isinstance(value, date):
            rendered = _ts(value)
            value_type = "TS" if isinstance(value, datetime) else "DT"
        elif kind == "dose" and isinstance(value, int | float):
            rendered = _number(value)
            unit = DOSE_UNIT
        elif kind == "int" and isinstance(value, int):
            rendered = str(value)
        elif kind == "flag":
            rendered = "Y" if value else "N"
        elif kind == "sex" and isinstance(value, Sex):
            rendered = SEX_TO_V2[value]
        elif kind in ("text", "code", "date", "when", "dose", "int", "sex"):
            raise TypeError(f"{role}: {type(value).__name__} is not a {kind} value")
        else:  # status, intent: the enum value
            rendered = _e(str(getattr(value, "value", value)))
        code = self.profile.code_for(role)
        self.obx_count += 1
        fields = [""] * 16
        fields[0] = str(self.obx_count)  # OBX-1
        fields[1] = value_type  # OBX-2
        fields[2] = "^".join([_e(code.code), _e(code.display), _e(code.system)])  # OBX-3
        fields[3] = _e(sub_id)  # OBX-4
        fields[4] = rendered  # OBX-5
        fields[5] = unit  # OBX-6
        fields[10] = "F"  # OBX-11 final
        fields[13] = _dt(observed)  # OBX-14
        fields[15] = responsible  # OBX-16
        self.segment("OBX", *fields)

    def encode(self, codec: str) -> bytes:
        out = bytearray()
        for values in self.segments:
            line = "|".join(values)
            try:
                out += line.encode(codec)
            except UnicodeEncodeError:
                for number, text in enumerate(values[1:], start=1):
                    try:
                        text.encode(codec)
                    except UnicodeEncodeError as exc:
                        label = values[0] if values[0] != "OBX" else f"OBX[{values[1]}]"
                        number_text = str(number + 1 if values[0] == "MSH" else number)
                        raise InvalidValue(
                            f"text cannot be written in {codec}; use encoding utf-8",
                            segment=label,
                            field=number_text,
                        ) from exc
                raise
            out += b"\r"
        return bytes(out)


def v2_from_case(
    case: Case,
    profile: Profile | None = None,
    *,
    control_id: str,
    timestamp: datetime,
    encoding: str = "utf-8",
) -> bytes:
    """One ORU^R01 v2.5.1 message carrying the whole case, in ``encoding`` (utf-8, latin-1 or ascii; MSH-18 set).

    Raises:
        UnsupportedInput: an encoding without an MSH-18 value, or a profile lacking a code the case needs.
        InvalidValue: text that the chosen encoding cannot carry (names segment and field).
    """
    profile = profile or default_profile()
    codec = codec_for(encoding)
    if codec not in MSH18_FOR_CODEC:
        raise UnsupportedInput("the writer supports utf-8, latin-1, iso8859-15 and ascii", segment="MSH", field="18")
    out = _Message(profile)
    _header(out, case, control_id, timestamp, codec)
    _course(out, case)
    _diagnoses(out, case.diagnoses)
    for n, surgery in enumerate(case.surgeries, start=1):
        out.obx("surgery_text", surgery.text, str(n))
        out.obx("surgery_code", surgery.code, str(n))
        out.obx("surgery_date", surgery.performed, str(n))
    _therapies(out, case.systemic_therapies, case.course.concurrent_therapy)
    for n, prior in enumerate(case.prior_radiotherapy, start=1):
        key = str(n)
        out.obx("prior_region", prior.region, key)
        out.obx("prior_total_dose", prior.total_dose_gy, key)
        out.obx("prior_fractions", prior.fractions, key)
        out.obx("prior_start", prior.start, key)
        out.obx("prior_end", prior.end, key)
        out.obx("prior_text", prior.text, key)
    _events(out, case)
    _physician_details(out, case)
    return out.encode(codec)


def _header(out: _Message, case: Case, control_id: str, timestamp: datetime, codec: str) -> None:
    patient = case.patient
    course = case.course
    # MSH-3 sending application .. MSH-19 principal language of message (ISO 639)
    out.segments.append(
        [
            "MSH",
            "^~\\&",
            _e(out.profile.sending_application),
            "",
            "",
            "",
            _ts(timestamp),
            "",
            "ORU^R01^ORU_R01",
            _e(control_id),
            "P",
            VERSION,
            "",
            "",
            "NE",
            "NE",
            "",
            MSH18_FOR_CODEC[codec],
            f"{case.language}^^ISO639",
        ]
    )
    name = "^".join([_e(patient.family), _e(patient.given), "", "", "", "", "L"]) if patient.name else ""
    out.segment(
        "PID",
        "1",
        "",
        f"{_e(patient.id)}^^^^MR",  # PID-3
        "",
        name,  # PID-5
        "",
        _dt(patient.birth_date),  # PID-7
        SEX_TO_V2[patient.sex],  # PID-8
        "",
        "",
        _e(patient.address),  # PID-11 (XAD.1: the whole line)
        *([""] * 18),
        "" if patient.deceased is None else "Y" if patient.deceased else "N",  # PID-30 patient death indicator
    )
    # PV1-2 patient class U (unknown): the case does not say in- or outpatient.
    out.segment("PV1", "1", "U", "", "", "", "", _xcn(case.treating_physician), _xcn(case.referring_physician))
    obr = [""] * 28
    obr[0] = "1"
    obr[2] = _e(course.id)  # OBR-3 filler order number
    obr[3] = f"{RESULT_CODE[0]}^{RESULT_CODE[1]}^{out.profile.coding_system}"  # OBR-4
    obr[6] = _dt(course.start)  # OBR-7 observation date/time
    obr[7] = _dt(course.end)  # OBR-8 observation end
    obr[24] = "F"  # OBR-25 result status
    obr[27] = "~".join(_xcn(p) for p in case.copies_to)  # OBR-28 result copies to
    out.segment("OBR", *obr)


def _course(out: _Message, case: Case) -> None:
    course = case.course
    out.obx("course_id", course.id)
    out.obx("course_name", course.name)
    out.obx("course_status", course.status)
    out.obx("course_status_reason", course.status_reason)
    out.obx("course_intent", course.intent)
    out.obx("course_start", course.start)
    out.obx("course_end", course.end)
    for site in course.body_sites:
        out.obx("course_body_site", site)
    out.obx("course_laterality", course.laterality)
    for modality in course.modalities:
        out.obx("course_modality", modality)
    for technique in course.techniques:
        out.obx("course_technique", technique)
    out.obx("course_energy", course.energy)
    out.obx("course_image_guidance", course.image_guidance)
    out.obx("course_motion_management", course.motion_management)
    out.obx("course_sessions", course.sessions)
    out.obx("course_reirradiation", course.reirradiation)
    for n, volume in enumerate(course.volumes, start=1):
        _volume(out, volume, str(n))
    for p, phase in enumerate(course.phases, start=1):
        _phase(out, phase, str(p))
    brachy = course.brachytherapy
    if brachy is not None:
        out.obx("brachy_isotope", brachy.source_isotope)
        out.obx("brachy_dose_rate", brachy.dose_rate)
        out.obx("brachy_applicator", brachy.applicator)
        out.obx("brachy_total_dose", brachy.total_dose_gy)
        out.obx("brachy_dose_per_fraction", brachy.dose_per_fraction_gy)
        out.obx("brachy_fractions", brachy.fractions)
        out.obx("brachy_text", brachy.text)


def _volume(out: _Message, volume: TargetVolume, key: str) -> None:
    out.obx("volume_name", volume.name, key)
    out.obx("volume_site", volume.site, key)
    out.obx("volume_laterality", volume.laterality, key)
    out.obx("volume_type", volume.volume_type, key)
    out.obx("volume_total_dose", volume.total_dose_gy, key)
    out.obx("volume_dose_per_fraction", volume.dose_per_fraction_gy, key)
    out.obx("volume_fractions_delivered", volume.fractions_delivered, key)
    out.obx("volume_planned_total_dose", volume.planned_total_dose_gy, key)
    out.obx("volume_fractions_planned", volume.fractions_planned, key)
    out.obx("volume_boost", True if volume.boost else None, key)


def _phase(out: _Message, phase: Phase, key: str) -> None:
    # Every phase gets at least its status OBX, so that a phase without other data still reads back.
    out.obx("phase_name", phase.name, key)
    out.obx("phase_status", phase.status, key)
    out.obx("phase_status_reason", phase.status_reason, key)
    out.obx("phase_start", phase.start, key)
    out.obx("phase_end", phase.end, key)
    out.obx("phase_fractions_delivered", phase.fractions_delivered, key)
    out.obx("phase_fractions_planned", phase.fractions_planned, key)
    out.obx("phase_modality", phase.modality, key)
    out.obx("phase_technique", phase.technique, key)
    for n, volume in enumerate(phase.volumes, start=1):
        _volume(out, volume, f"{key}.{n}")


def _diagnoses(out: _Message, diagnoses: list[Diagnosis]) -> None:
    for n, dx in enumerate(diagnoses, start=1):
        key = str(n)
        out.obx("diagnosis_role", dx.role, key)
        out.obx("diagnosis_code", dx.code, key)
        out.obx("diagnosis_text", dx.text, key)
        out.obx("diagnosis_date", dx.diagnosis_date, key)
        out.obx("diagnosis_laterality", dx.laterality, key)
        out.obx("diagnosis_histology", dx.histology, key)
        out.obx("diagnosis_grade", dx.grade, key)
        out.obx("diagnosis_tnm", dx.tnm, key)
        out.obx("diagnosis_stage", dx.stage, key)
        out.obx("diagnosis_receptor_status", dx.receptor_status, key)


def _therapies(out: _Message, before: list[SystemicTherapy], concurrent: list[SystemicTherapy]) -> None:
    # One numbering for both lists; RT-THERAPY-CONCURRENT says which list an item belongs to.
    items = [(t, False) for t in before] + [(t, True) for t in concurrent]
    for n, (therapy, is_concurrent) in enumerate(items, start=1):
        key = str(n)
        for agent in therapy.agents:
            out.obx("therapy_agent", agent, key)
        out.obx("therapy_dose", therapy.dose, key)
        out.obx("therapy_cycles", therapy.cycles, key)
        out.obx("therapy_start", therapy.start, key)
        out.obx("therapy_end", therapy.end, key)
        out.obx("therapy_concurrent", is_concurrent, key)
        out.obx("therapy_text", therapy.text, key)


def _events(out: _Message, case: Case) -> None:
    for n, tox in enumerate(case.toxicities, start=1):
        key = str(n)
        out.obx("toxicity_term", tox.term, key)
        out.obx("toxicity_code", tox.code, key)
        out.obx("toxicity_grade", tox.grade, key)
        out.obx("toxicity_severity", tox.severity, key)
        out.obx("toxicity_onset", tox.onset, key)
    for n, interruption in enumerate(case.interruptions, start=1):
        key = str(n)
        out.obx("interruption_start", interruption.start, key)
        out.obx("interruption_end", interruption.end, key)
        out.obx("interruption_days", interruption.days, key)
        out.obx("interruption_reason", interruption.reason, key)
    for status in case.performance_status:
        out.obx("ecog" if status.scale == "ECOG" else "karnofsky", status.value, observed=status.observed)
    for n, appointment in enumerate(case.follow_up.appointments, start=1):
        key = str(n)
        out.obx("appointment_when", appointment.when, key)
        out.obx("appointment_kind", appointment.kind, key)
        out.obx("appointment_text", appointment.text, key)
    for recommendation in case.follow_up.recommendations:
        out.obx("recommendation", recommendation)
    for note in case.notes:
        out.obx("note", note.text, observed=note.written, responsible=f"^{_e(note.author)}" if note.author else "")


def _physician_details(out: _Message, case: Case) -> None:
    people = [("treating", case.treating_physician), ("referring", case.referring_physician)]
    people += [(f"copy{n}", p) for n, p in enumerate(case.copies_to, start=1)]
    for key, physician in people:
        if physician is None:
            continue
        out.obx("physician_sex", physician.sex if physician.sex != Sex.unknown else None, key)
        out.obx("physician_organization", physician.organization, key)
        out.obx("physician_address", physician.address, key)
