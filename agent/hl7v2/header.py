"""Read what the acknowledgement needs from a message, cheaply: the MSH fields, the character set, a quick shape check.

The full parse (hl7apy, tens of milliseconds per message) belongs to the worker's intake step, after the message is
stored; answering the sender needs only MSH. ``read_header`` splits the first segment by its own separators (with
``rtletter.mappers.hl7v2.header``, as the parser does) and checks, in this order, what decides between accepting,
rejecting (AR: not for us, whatever the content) and an error (AE: for us, but broken):

- the first segment is MSH with usable separators (else AR, code 100, or AE 102 for MSH-2);
- MSH-9 message type, MSH-10 control id, MSH-11 processing id, MSH-12 version are valued (AE 101);
- MSH-9 is a type rtletter maps, and not a batch (AR 200); MSH-12 is 2.3 or newer (AR 203);
- there are no NUL bytes (AE 102);
- MSH-18 names a known character set (AE 103; AR 103 for UTF-16/UTF-32, which MLLP cannot carry) and the bytes
  decode in it (AR 102), or in the configured default when MSH-18 is empty (AE 102);
- every segment starts with a segment id (AE 100).

When the character set is the problem the answer is written in ASCII (``Header.codec``): whatever the sender reads,
it reads ASCII.

``HeaderError`` says which segment and field, with the HL7 error code (table 0357); its message never quotes a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rtletter.agent.errors import AgentError
from rtletter.mappers.errors import UnsupportedInput, WideCharset
from rtletter.mappers.hl7v2.framing import UTF8_BOM
from rtletter.mappers.hl7v2.header import declared_charset, first_segment, msh_field, msh_fields
from rtletter.mappers.hl7v2.message import MIN_VERSION, codec_for

# Message types whose content rtletter maps to a case (HL7 table 0076). Others are refused with AR.
SUPPORTED_TYPES = frozenset({"ADT", "ORU", "MDM", "SIU", "DFT"})
STANDARD_SEPARATORS = "|^~\\&"
_SEGMENT_ID = re.compile(rb"[A-Z][A-Z0-9]{2}")
_VERSION = re.compile(r"(\d+)\.(\d+)")

# HL7 table 0357, message error condition codes.
SEGMENT_SEQUENCE_ERROR = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_VERSION_ID = "203"
APPLICATION_INTERNAL_ERROR = "207"
ERROR_TEXT = {
    SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_VERSION_ID: "Unsupported version id",
    APPLICATION_INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class Header:
    """The MSH fields an acknowledgement and the job store need (raw, as sent; components not split except MSH-9)."""

    separators: str = STANDARD_SEPARATORS  # MSH-1 + MSH-2, reused in the answer
    sending_application: str = ""  # MSH-3
    sending_facility: str = ""  # MSH-4
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    message_type: str = ""  # MSH-9.1
    trigger_event: str = ""  # MSH-9.2
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11
    version: str = ""  # MSH-12.1
    accept_ack_type: str = ""  # MSH-15
    application_ack_type: str = ""  # MSH-16
    charset: str = ""  # MSH-18, first repetition
    codec: str = "utf-8"  # the Python codec the message is read with

    @property
    def component(self) -> str:
        return self.separators[1]

    @property
    def escape_char(self) -> str:
        return self.separators[3]


# An AgentError, not a MappingError: it is the listener's answer to the sender (AE or AR, an HL7 table 0357 code), not
# a failure to map. The mapper's own errors on the same bytes are translated into it here (``_codec``).
class HeaderError(AgentError):
    """The message cannot be accepted. ``reject``: AR (not ours to take) rather than AE (ours, but broken)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        segment: str = "MSH",
        field: int | None = None,
        sequence: int = 1,
        reject: bool = False,
        header: Header | None = None,
    ) -> None:
        self.code = code
        self.segment = segment
        self.field = field
        self.sequence = sequence
        self.reject = reject
        self.header = header or Header()
        super().__init__(message)

    @property
    def location(self) -> str:
        """``MSH-10``, ``PID``, ``segment 7``: where, for logs and the quarantine reason."""
        if not self.segment:
            return f"segment {self.sequence}"
        return f"{self.segment}-{self.field}" if self.field is not None else self.segment

    def describe(self) -> str:
        return f"{self.location}: {self}"


def read_header(message: bytes, default_encoding: str, *, supported_types: frozenset[str] = SUPPORTED_TYPES) -> Header:
    """The header of one unframed message; raises ``HeaderError`` when it must be answered with AE or AR."""
    data = message[len(UTF8_BOM) :] if message.startswith(UTF8_BOM) else message
    had_bom = data is not message
    data = data.lstrip(b" \t\r\n")
    name = data[:3]
    if name in (b"FHS", b"BHS"):
        raise HeaderError(
            "batches are not accepted over MLLP; send the messages one by one",
            code=UNSUPPORTED_MESSAGE_TYPE,
            segment=name.decode("ascii"),
            reject=True,
        )
    if name != b"MSH":
        raise HeaderError("the message does not start with an MSH segment", code=SEGMENT_SEQUENCE_ERROR, reject=True)
    first = first_segment(data).decode("latin-1")  # MSH is ASCII in every supported character set
    separator = first[3:4]
    if not _separator(separator):
        raise HeaderError("MSH-1 is not a field separator", code=DATA_TYPE_ERROR, field=1, reject=True)
    fields = msh_fields(first)
    chars = msh_field(fields, 2)
    if len(chars) < 4 or len(set(chars[:4] + separator)) != 5 or not all(_separator(c) for c in chars[:4]):
        raise HeaderError("MSH-2 does not hold four distinct encoding characters", code=DATA_TYPE_ERROR, field=2)
    component = chars[0]
    message_type = msh_field(fields, 9).split(component)
    header = Header(
        separators=separator + chars[:4],
        sending_application=msh_field(fields, 3),
        sending_facility=msh_field(fields, 4),
        receiving_application=msh_field(fields, 5),
        receiving_facility=msh_field(fields, 6),
        message_type=message_type[0].strip(),
        trigger_event=message_type[1].strip() if len(message_type) > 1 else "",
        control_id=msh_field(fields, 10).strip(),
        processing_id=msh_field(fields, 11).split(component)[0].strip(),
        version=msh_field(fields, 12).split(component)[0].strip(),
        accept_ack_type=msh_field(fields, 15).strip().upper(),
        application_ack_type=msh_field(fields, 16).strip().upper(),
        charset=declared_charset(first) or "",
    )
    _required(header)
    if header.message_type not in supported_types:
        raise HeaderError(
            f"message type not supported (rtletter takes {', '.join(sorted(supported_types))})",
            code=UNSUPPORTED_MESSAGE_TYPE,
            field=9,
            reject=True,
            header=header,
        )
    version = _VERSION.match(header.version)
    if version is None or (int(version.group(1)), int(version.group(2))) < MIN_VERSION:
        raise HeaderError(
            f"HL7 version not supported (rtletter takes {'.'.join(map(str, MIN_VERSION))} or newer)",
            code=UNSUPPORTED_VERSION_ID,
            field=12,
            reject=True,
            header=header,
        )
    if b"\x00" in data:  # before MSH-18 is looked up: a NUL there is no character set name
        raise HeaderError(
            "NUL bytes: binary data, not HL7 v2 text",
            code=DATA_TYPE_ERROR,
            field=None,
            header=replace(header, codec="ascii", charset=""),
        )
    codec = _codec(header, default_encoding, had_bom)
    header = replace(header, codec=codec)
    _check_body(data, codec, header)
    return header


def _separator(char: str) -> bool:
    """HL7 separators are printable ASCII, neither letters, digits nor space."""
    return len(char) == 1 and "!" <= char <= "~" and not char.isalnum()


def _required(header: Header) -> None:
    for number, value in ((9, header.message_type), (10, header.control_id), (11, header.processing_id)):
        if not value:
            raise HeaderError(f"MSH-{number} is empty", code=REQUIRED_FIELD_MISSING, field=number, header=header)
    if not header.version:
        raise HeaderError("MSH-12 is empty", code=REQUIRED_FIELD_MISSING, field=12, header=header)


def _codec(header: Header, default_encoding: str, had_bom: bool) -> str:
    if not header.charset:
        return "utf-8" if had_bom else codec_for(default_encoding)
    try:
        return codec_for(header.charset)
    except WideCharset as exc:
        raise HeaderError(
            str(exc).removeprefix("MSH-18: "),
            code=TABLE_VALUE_NOT_FOUND,
            field=18,
            reject=True,
            header=replace(header, codec="ascii", charset="ASCII"),
        ) from None
    except UnsupportedInput:
        raise HeaderError(
            "MSH-18 names a character set rtletter does not read",
            code=TABLE_VALUE_NOT_FOUND,
            field=18,
            header=replace(header, codec="ascii", charset="ASCII"),
        ) from None


def _check_body(data: bytes, codec: str, header: Header) -> None:
    try:
        data.decode(codec)
    except UnicodeError as exc:  # UnicodeDecodeError, or a codec's own UnicodeError
        said = "MSH-18 names" if header.charset else "MSH-18 is empty; the listener's default is"
        raise HeaderError(
            f"bytes at offset {getattr(exc, 'start', 0)} are not valid {codec} ({said} {codec})",
            code=DATA_TYPE_ERROR,
            field=18,
            reject=bool(header.charset),  # the sender said what the bytes are, and they are not
            header=replace(header, codec="ascii", charset="ASCII" if header.charset else ""),
        ) from None
    separator = header.separators[0].encode("latin-1")
    segments = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    for number, segment in enumerate(segments, start=1):
        if not segment.strip():
            continue
        if not _SEGMENT_ID.match(segment) or segment[3:4] not in (separator, b""):
            raise HeaderError(
                f"segment {number} does not start with a segment id",
                code=SEGMENT_SEQUENCE_ERROR,
                segment=_segment_label(segment),
                sequence=number,
                header=header,
            )


def _segment_label(segment: bytes) -> str:
    head = segment[:3]
    return head.decode("ascii") if _SEGMENT_ID.fullmatch(head) else ""
