"""HL7 v2 values: the tables that turn codes and words into the case's values, and the DT/DTM/NM parsers.

Parsers raise ``InvalidValue`` naming the place (``OBX[3]-5``), never the value: messages end up in logs.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from rtletter.mappers.case import CourseStatus, DiagnosisRole, Intent, Sex
from rtletter.mappers.errors import InvalidValue

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
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?\Z")


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
        raise invalid_value(where, "not an HL7 date YYYYMMDD[HHMM[SS]][+ZZZZ]")
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
        raise invalid_value(where, "not a valid calendar date") from exc


def parse_number(raw: str | None, where: str) -> float | None:
    """HL7 NM (a decimal comma is accepted: German senders)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        raise invalid_value(where, "not a number")
    return float(text)


def parse_int(raw: str | None, where: str) -> int | None:
    number = parse_number(raw, where)
    if number is None:
        return None
    if not number.is_integer():
        raise invalid_value(where, "not a whole number")
    return int(number)


def invalid_value(where: str, message: str) -> InvalidValue:
    segment, _, number = where.partition("-")
    return InvalidValue(f"{where}: {message}", segment=segment, field=number or None)


def is_number(text: str) -> bool:
    """Text that ``parse_number`` reads as a number (with a decimal point)."""
    return bool(_NUMBER.match(text))
