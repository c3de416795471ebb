"""Bytes in, cases out: tell FHIR JSON from HL7 v2 by content and hand the input to the matching mapper.

Detection looks only at the first bytes after an optional UTF-8 byte order mark and white space:

- ``{`` or ``[`` -> FHIR JSON (FHIR R4 JSON is always UTF-8: http://hl7.org/fhir/R4/json.html) ->
  :func:`rtletter.mappers.fhir.bundle.case_from_bundle`;
- ``MSH``, ``FHS`` or ``BHS`` -> HL7 v2 (a message, or a file/batch of messages) ->
  :func:`rtletter.mappers.hl7v2.case.case_from_v2`, batches split by ``hl7v2.message.split_batch``;
- ``0x0B`` -> MLLP-framed HL7 v2 (``<VT> message <FS><CR>``, HL7 v2 Appendix C), one or more frames;
- anything else -> :class:`UnsupportedInput` saying what was expected.

Error messages name what and where, never the content: they end up in logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtletter.mappers.case import Case
from rtletter.mappers.errors import InvalidValue, MissingElement, UnsupportedInput
from rtletter.mappers.hl7v2 import framing

if TYPE_CHECKING:
    from rtletter.mappers.hl7v2.profile import Profile

MAX_INPUT_BYTES = 32 * 1024 * 1024  # a bundle of one course is kilobytes; this only stops runaway input
EXPECTED = "expected a FHIR JSON Bundle or an HL7 v2 message (MSH, FHS or BHS segment)"

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_V2_HEADERS = (b"MSH", b"FHS", b"BHS")


def detect_kind(data: bytes) -> str:
    """``"fhir"``, ``"hl7v2"`` or ``"mllp"`` from the first bytes; raises :class:`UnsupportedInput` otherwise."""
    head = _strip(data)[:4]
    if not head:
        raise UnsupportedInput(f"empty input; {EXPECTED}")
    if head.startswith(_UTF16_BOMS) or _looks_utf16(head):
        raise InvalidValue(f"input is UTF-16; {EXPECTED} in UTF-8")
    if head[:1] in (b"{", b"["):
        return "fhir"
    if head[:3] in _V2_HEADERS:
        return "hl7v2"
    if head[:1] == framing.START:
        return "mllp"
    raise UnsupportedInput(f"input is neither JSON nor HL7 v2; {EXPECTED}")


def load_cases(data: bytes, *, v2_profile: Profile | None = None, max_bytes: int = MAX_INPUT_BYTES) -> list[Case]:
    """Map a FHIR JSON Bundle or HL7 v2 message(s) to cases, detecting which from the content.

    Args:
        data: the raw input, as read from a file, stdin or a socket.
        v2_profile: the site's HL7 v2 profile for ``case_from_v2`` (``None``: the default profile).
        max_bytes: larger input is refused before it is parsed.

    Returns:
        One case per radiotherapy course (FHIR) or per message (HL7 v2).

    Raises:
        MappingError: UnsupportedInput, MissingElement or InvalidValue naming the resource/segment and field.
    """
    if len(data) > max_bytes:
        raise InvalidValue(f"input is {len(data)} bytes, more than the limit of {max_bytes}")
    kind = detect_kind(data)
    if kind == "fhir":
        return _load_fhir(_strip(data))
    frames = framing.split_frames(data) if kind == "mllp" else [_strip(data)]
    return _load_v2([message for frame in frames for message in _v2_messages(frame)], v2_profile)


def _looks_utf16(head: bytes) -> bool:
    """``{``, ``[`` or ``M`` next to a NUL byte: UTF-16 without a byte order mark."""
    return len(head) > 1 and (
        (head[:1] in b"{[M" and head[1:2] == b"\x00") or (head[:1] == b"\x00" and head[1:2] in b"{[M")
    )


def _strip(data: bytes) -> bytes:
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    return data.lstrip(b" \t\r\n")


def _load_fhir(data: bytes) -> list[Case]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # FHIR JSON must be UTF-8; latin-1 text would otherwise turn into mojibake names.
        raise InvalidValue(f"input is not valid UTF-8 (byte {exc.start})", resource="Bundle") from exc
    from rtletter.mappers.fhir.bundle import case_from_bundle

    cases: list[Case] = case_from_bundle(text)
    return cases


def _v2_messages(data: bytes) -> list[bytes]:
    """One entry per HL7 v2 message: batches (FHS/BHS) and files with several MSH are split."""
    from rtletter.mappers.hl7v2.message import split_batch

    messages: list[bytes] = split_batch(data)
    if not messages:
        raise MissingElement("batch holds no message", segment="MSH")
    return messages


def _load_v2(messages: list[bytes], profile: Profile | None) -> list[Case]:
    from rtletter.mappers.hl7v2.case import case_from_v2  # split_batch and parsing live in hl7v2.message

    return [case_from_v2(message, profile) for message in messages]
