"""rtletter.mappers: FHIR R4 and HL7 v2 in, one case model, the prompt, and the letter back out.

Pure: data in, data out. No network, no database, no torch, no clock (callers pass ``now``).
"""

from rtletter.mappers.case import (
    Case,
    Coding,
    Course,
    CourseStatus,
    Diagnosis,
    Fact,
    Intent,
    Patient,
    Physician,
    TargetVolume,
)
from rtletter.mappers.errors import InvalidValue, MappingError, MissingElement, UnsupportedInput

__all__ = [
    "Case",
    "Coding",
    "Course",
    "CourseStatus",
    "Diagnosis",
    "Fact",
    "Intent",
    "InvalidValue",
    "MappingError",
    "MissingElement",
    "Patient",
    "Physician",
    "TargetVolume",
    "UnsupportedInput",
]
