"""Errors raised by the mappers.

Hierarchy::

    MappingError                 bad or unusable input; the message names where
    ├── UnsupportedInput         not something we map (not a Bundle, no course summary, unknown message type)
    │   └── WideCharset          MSH-18 names UTF-16/UTF-32, which HL7 v2 over MLLP cannot be in
    ├── MissingElement           a required element is absent or a reference that matters dangles
    └── InvalidValue             an element is present but unusable (wrong type, bad date, bad encoding)

Messages name the resource/segment and element/field, never the patient's data: they end up in logs.
"""

from __future__ import annotations


class MappingError(Exception):
    """Input that cannot be mapped to a case. ``where`` says which resource/segment and element/field."""

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        element: str | None = None,
        segment: str | None = None,
        field: str | None = None,
    ) -> None:
        self.resource = resource
        self.element = element
        self.segment = segment
        self.field = field
        super().__init__(message)

    @property
    def where(self) -> str:
        """``Procedure.performedPeriod`` or ``PID-7`` style location, or an empty string."""
        if self.segment:
            return f"{self.segment}-{self.field}" if self.field else self.segment
        if self.resource:
            return f"{self.resource}.{self.element}" if self.element else self.resource
        return ""

    def __str__(self) -> str:
        message = super().__str__()
        where = self.where
        return f"{where}: {message}" if where and not message.startswith(where) else message


class UnsupportedInput(MappingError):
    """The input is well formed but not something rtletter maps."""


class MissingElement(MappingError):
    """A required element is absent, or a reference that matters does not resolve."""


class InvalidValue(MappingError):
    """An element is present but its value cannot be used."""


class WideCharset(UnsupportedInput):
    """MSH-18 names UTF-16 or UTF-32: a known character set, but one in which MSH would not read as ASCII."""
