"""HL7 v2 bytes in, a parsed message out: framing, character set, segment ends, batches, escapes.

The wire format (HL7 v2.x chapter 2, "Message construction rules"; MLLP from the Implementation Guide):

- MLLP frame: ``0x0B`` + message + ``0x1C 0x0D`` (``framing``); a UTF-8 byte order mark may precede ``MSH``.
- MSH is split by its own separators before anything else is known (``header``).
- Segments end with CR; files and some senders use LF or CRLF, which are accepted and normalised to CR.
- MSH-18 names the character set (HL7 table 0211): ``8859/1`` latin-1, ``UNICODE UTF-8``, ``ASCII`` ...; when it is
  empty the site's default applies (a German site sends latin-1 without saying so).
- Batches: ``[FHS] BHS {MSH ...} BTS [FTS]``; ``split_batch`` returns the messages.

Parsing is hl7apy's (``parse_message``, tolerant validation, no group detection). Only the segments the mapper reads
are handed to it: hl7apy is slow, and it refuses segments unknown to the message's version (a v2.5.1 message with a
v2.7 PRT segment), which rtletter never needs. The hl7apy tree is then flattened into ``Segment`` objects whose
values are unescaped (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\ \\.br\\``) strings addressed by HL7 position.

Errors name the segment and field (``MSH-18``, ``OBX[3]-5``), never a value from the message.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import hl7apy
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rtletter.mappers.errors import InvalidValue, MissingElement, UnsupportedInput, WideCharset
from rtletter.mappers.hl7v2.framing import UTF8_BOM, unframe, unframe_text
from rtletter.mappers.hl7v2.header import declared_charset, first_segment, msh_fields

# Refuse anything larger: one end-of-treatment message is kilobytes, a 10 MB embedded report is still fine.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# HL7 table 0211 (alternate character sets, MSH-18) -> Python codec. Multi-byte ISO 2022 sets are not supported.
CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",  # seen in the wild, not in table 0211
    "UNICODE": "utf-8",  # v2.3-2.5 "UNICODE" without form; UTF-8 is the only form that keeps MSH readable
    "GB 18030-2000": "gb18030",
    "BIG-5": "big5",
}
# Table 0211 values of character sets that MLLP cannot carry (MSH would not read as ASCII): refused.
WIDE_CHARSETS: dict[str, str] = {"UNICODE UTF-16": "utf-16", "UNICODE UTF-32": "utf-32"}
# Python codec -> the MSH-18 value a writer puts there.
MSH18_FOR_CODEC: dict[str, str] = {
    "ascii": "ASCII",
    "latin-1": "8859/1",
    "iso8859-15": "8859/15",
    "utf-8": "UNICODE UTF-8",
}

# Segments that occur once per message: their location is written without an index (``PID-7``, not ``PID[1]-7``).
SINGLE_SEGMENTS = frozenset({"MSH", "EVN", "PID", "PD1", "PV1", "PV2", "TXA", "FHS", "BHS", "BTS", "FTS"})
BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})
# The segments the case mapper reads; everything else is dropped before hl7apy sees it.
MAPPED_SEGMENTS = frozenset({"MSH", "EVN", "PID", "PV1", "DG1", "PR1", "OBX", "AL1", "NTE", "ORC", "OBR", "TXA"})

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_POSITION = re.compile(r"_(\d+)\Z")
_ESCAPE_SEQUENCE_LIMIT = 64  # longest escape sequence we look for (\X...\ with 30 bytes)

# Oldest and newest versions rtletter maps. hl7apy knows 2.1-2.8.2; newer strings map to the nearest it knows.
MIN_VERSION = (2, 3)

Repetition = list[list[str]]  # components -> subcomponents, unescaped; positions are 1-based: rep[0][0] is X.1.1


@dataclass(frozen=True)
class EncodingCharacters:
    """MSH-1 and MSH-2: field, component, repetition, escape and subcomponent separators."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


@dataclass
class Segment:
    """One segment: ``fields[n]`` holds the repetitions of field n (HL7 numbering, MSH-1 is the separator)."""

    name: str
    index: int  # 1-based among the segments of the same name: OBX[3]
    fields: dict[int, list[Repetition]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``PID`` or ``OBX[3]``: how errors name this segment."""
        return self.name if self.name in SINGLE_SEGMENTS else f"{self.name}[{self.index}]"

    def where(self, field_number: int, component: int | None = None) -> str:
        base = f"{self.label}-{field_number}"
        return f"{base}.{component}" if component else base

    def repetitions(self, field_number: int) -> list[Repetition]:
        return self.fields.get(field_number, [])

    def get(self, field_number: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str | None:
        """The value at ``SEG-f.c.s`` of one repetition, or None when it is empty or absent."""
        reps = self.fields.get(field_number)
        if not reps or repetition >= len(reps):
            return None
        return component_of(reps[repetition], component, subcomponent)

    def text(self, field_number: int, repetition: int = 0, separator: str = "^") -> str | None:
        """A whole repetition as text: its components joined (a TX/FT/ST value has one component)."""
        reps = self.fields.get(field_number)
        if not reps or repetition >= len(reps):
            return None
        parts = ["&".join(sub) for sub in reps[repetition]]
        while parts and not parts[-1]:
            parts.pop()
        value = separator.join(parts).strip()
        return value or None


def component_of(rep: Repetition, component: int = 1, subcomponent: int = 1) -> str | None:
    if component > len(rep):
        return None
    subs = rep[component - 1]
    if subcomponent > len(subs):
        return None
    value = subs[subcomponent - 1].strip()
    return value or None


@dataclass
class Message:
    """A parsed HL7 v2 message: its segments in order and what MSH says about it."""

    segments: list[Segment]
    version: str  # MSH-12 as sent
    parser_version: str  # the hl7apy version it was parsed as
    message_type: str  # MSH-9.1^MSH-9.2, e.g. "ORU^R01"
    control_id: str | None  # MSH-10
    charset: str  # the Python codec the bytes were decoded with
    encoding_characters: EncodingCharacters

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def msh(self) -> Segment:
        return self.segments[0]


# --- bytes -> text --------------------------------------------------------------------------------------------------


def normalise_segment_ends(text: str) -> str:
    """CRLF and LF segment terminators become CR (HL7 v2 chapter 2: the segment terminator is CR)."""
    return text.replace("\r\n", "\r").replace("\n", "\r")


def codec_for(name: str) -> str:
    """A Python codec name (``latin-1``, ``utf-8``) or an MSH-18 value (``8859/1``) -> the normalised codec name.

    Only character sets in which MSH reads as ASCII: UTF-16/UTF-32 (``WideCharset``), UTF-7, EBCDIC, ISO 2022 and
    Python's transforms (``zlib``, ``rot13``, ``idna``, ``unicode_escape``) are refused, as are names that are not
    names at all (a NUL byte)."""
    upper = name.strip().upper()
    if upper in CHARSETS:
        return CHARSETS[upper]
    try:
        info = codecs.lookup(WIDE_CHARSETS.get(upper, name))
    except (LookupError, ValueError, TypeError) as exc:  # ValueError: "embedded null character"
        raise UnsupportedInput("character set not supported", segment="MSH", field="18") from exc
    canonical = info.name
    if canonical.startswith(("utf-16", "utf-32")):
        raise WideCharset(
            "UTF-16 and UTF-32 cannot be carried over MLLP (MSH must read as ASCII)", segment="MSH", field="18"
        )
    if not _ascii_compatible(info):
        raise UnsupportedInput("character set not supported", segment="MSH", field="18")
    return {"iso8859-1": "latin-1", "us-ascii": "ascii"}.get(canonical, canonical)


_NOT_CHARSETS = ("idna", "punycode", "raw-unicode-escape", "unicode-escape", "charmap", "undefined", "iso2022")
_ASCII_PROBE = "MSH|^~\\&|AZaz09 .,:;-_/+#*=()[]{}<>?!'\"@$%\r"


def _ascii_compatible(info: codecs.CodecInfo) -> bool:
    """A text codec that reads and writes ASCII unchanged (so MSH and the separators survive)."""
    if not getattr(info, "_is_text_encoding", True) or info.name.startswith(_NOT_CHARSETS):
        return False
    try:
        encoded = _ASCII_PROBE.encode(info.name)
        return encoded == _ASCII_PROBE.encode("ascii") and encoded.decode(info.name) == _ASCII_PROBE
    except (UnicodeError, LookupError, ValueError):
        return False


def decode(data: bytes | str, default_encoding: str = "utf-8") -> tuple[str, str]:
    """Bytes (or text) -> (text with CR segment ends, codec used). MSH-18 decides the codec, else the default."""
    if isinstance(data, str):
        return normalise_segment_ends(unframe_text(data).strip(" \t\r\n")), "utf-8"
    if len(data) > MAX_MESSAGE_BYTES:
        raise UnsupportedInput(f"message larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB")
    had_bom = UTF8_BOM in data[:8]
    body: bytes = unframe(data)
    if b"\x00" in body:
        raise UnsupportedInput("binary data (NUL bytes), not an HL7 v2 message")
    first = first_segment(body).decode("latin-1")  # MSH is ASCII in every supported character set
    _require_header(first)
    declared = declared_charset(first)
    codec = codec_for(declared) if declared else ("utf-8" if had_bom else codec_for(default_encoding))
    try:
        text = body.decode(codec)
    except UnicodeError as exc:
        said = "MSH-18 says" if declared else "MSH-18 is empty; the profile default is"
        raise InvalidValue(
            f"bytes at offset {getattr(exc, 'start', 0)} are not valid {codec} ({said} {codec}); "
            "fix MSH-18 at the sender or set the profile's default_encoding",
            segment="MSH",
            field="18",
        ) from exc
    return normalise_segment_ends(text), codec


def _require_header(first_segment: str) -> None:
    name = first_segment[:3]
    if name in BATCH_SEGMENTS:
        raise UnsupportedInput(f"a batch ({name}); split it with split_batch first", segment=name)
    if name != "MSH" or len(first_segment) < 8:
        raise UnsupportedInput("not an HL7 v2 message: it does not start with an MSH segment", segment="MSH")


# --- escapes --------------------------------------------------------------------------------------------------------


def unescape(value: str, chars: EncodingCharacters, charset: str = "utf-8") -> str:
    """Decode HL7 escape sequences (v2.x chapter 2.7): separators, ``\\Xhh..\\`` bytes, ``\\.br\\`` line breaks.

    Highlighting (``\\H\\ \\N\\``), character-set switches (``\\C..\\ \\M..\\``) and other formatting commands
    (``\\.sp\\ \\.in\\`` ...) carry no text and are dropped; an unknown or unterminated sequence is kept as it is.
    """
    esc = chars.escape
    if not esc or esc not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch != esc:
            j = value.find(esc, i)
            if j < 0:
                out.append(value[i:])
                break
            out.append(value[i:j])
            i = j
            continue
        end = value.find(esc, i + 1, i + 2 + _ESCAPE_SEQUENCE_LIMIT)
        if end < 0:
            out.append(ch)
            i += 1
            continue
        out.append(_escape_sequence(value[i + 1 : end], chars, charset))
        i = end + 1
    return "".join(out)


def _escape_sequence(body: str, chars: EncodingCharacters, charset: str) -> str:
    simple = {"F": chars.field, "S": chars.component, "T": chars.subcomponent, "R": chars.repetition, "E": chars.escape}
    if body in simple:
        return simple[body]
    if body in ("H", "N") or body[:1] in ("C", "M", "Z"):
        return ""
    if body[:1] == "X" and len(body) > 1:
        try:
            raw = bytes.fromhex(body[1:])
        except ValueError:
            return chars.escape + body + chars.escape
        try:
            return raw.decode(charset)
        except UnicodeError:
            return raw.decode("latin-1")
    if body.startswith(".br"):
        return "\n"
    if body.startswith(".sp"):
        count = body[3:].strip().lstrip("+")
        return "\n" * (int(count) if count.isdigit() else 1)
    if body[:1] == "." and len(body) <= 8:
        return ""  # .fi .nf .in .ti .sk .ce: layout only
    return chars.escape + body + chars.escape


def escape(value: str, chars: EncodingCharacters = EncodingCharacters()) -> str:
    """Escape text for a field (v2.x chapter 2.7): separators, the escape character, CR and LF (``\\.br\\``)."""
    esc = chars.escape
    out = value.replace(esc, f"{esc}E{esc}")
    for char, code in (
        (chars.field, "F"),
        (chars.component, "S"),
        (chars.subcomponent, "T"),
        (chars.repetition, "R"),
    ):
        out = out.replace(char, f"{esc}{code}{esc}")
    return out.replace("\r\n", "\n").replace("\r", f"{esc}X0D{esc}").replace("\n", f"{esc}.br{esc}")


# --- versions -------------------------------------------------------------------------------------------------------


def _version_tuple(version: str) -> tuple[int, ...] | None:
    parts = version.strip().split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _known_versions() -> list[tuple[tuple[int, ...], str]]:
    known = []
    for name in hl7apy.SUPPORTED_LIBRARIES:
        numbers = _version_tuple(name)
        if numbers is not None:
            known.append((numbers, name))
    return sorted(known)


_KNOWN_VERSIONS = _known_versions()


def parser_version(version: str) -> str:
    """MSH-12 -> the hl7apy version to parse with: itself when known, else the newest known one not after it
    (2.9 -> 2.8.2, 2.4.1 -> 2.4). Raises UnsupportedInput for versions before 2.3 or not a version at all."""
    numbers = _version_tuple(version)
    if numbers is None:
        raise UnsupportedInput("not an HL7 version", segment="MSH", field="12")
    if numbers[:2] < MIN_VERSION:
        raise UnsupportedInput("HL7 versions before 2.3 are not mapped", segment="MSH", field="12")
    candidates = [name for known, name in _KNOWN_VERSIONS if known <= numbers]
    return candidates[-1]


# --- text -> segments -----------------------------------------------------------------------------------------------


def split_segments(text: str) -> list[str]:
    """The segments of a message (CR-separated after ``normalise_segment_ends``), validated by name."""
    segments = [s for s in text.split("\r") if s.strip()]
    separator = segments[0][3] if segments and len(segments[0]) > 3 else "|"
    for number, segment in enumerate(segments, start=1):
        if not _SEGMENT_NAME.match(segment[:3]) or (len(segment) > 3 and segment[3] != separator):
            raise InvalidValue(f"segment {number} has no valid segment name (binary or corrupted data?)")
    return segments


def encoding_characters(msh: str) -> EncodingCharacters:
    fields = msh_fields(msh)
    if len(fields) < 3 or len(fields[2]) < 4:
        raise MissingElement("encoding characters missing", segment="MSH", field="2")
    enc = fields[2]
    chars = EncodingCharacters(fields[1], enc[0], enc[1], enc[2], enc[3])
    if len({chars.field, chars.component, chars.repetition, chars.escape, chars.subcomponent}) != 5:
        raise InvalidValue("encoding characters are not distinct", segment="MSH", field="2")
    return chars


def parse(
    data: bytes | str,
    *,
    default_encoding: str = "utf-8",
    keep: Iterable[str] | None = MAPPED_SEGMENTS,
) -> Message:
    """Parse one HL7 v2 message with hl7apy.

    Args:
        data: the message; bytes are decoded per MSH-18 (else ``default_encoding``), text is taken as it is.
        default_encoding: codec or MSH-18 value used when MSH-18 is empty.
        keep: segment names handed to hl7apy (Z-segments a profile reads must be added); None keeps all.

    Raises:
        UnsupportedInput: not an HL7 v2 message, a batch, an unsupported version or character set.
        MissingElement: MSH-2/9/12 missing.
        InvalidValue: undecodable bytes, corrupted segments, hl7apy rejecting a segment.
    """
    text, charset = decode(data, default_encoding)
    if not text:
        raise UnsupportedInput("empty message")
    _require_header(text[: text.find("\r") if "\r" in text else len(text)])
    segments = split_segments(text)
    chars = encoding_characters(segments[0])
    msh = msh_fields(segments[0])
    version = msh[12].split(chars.component)[0].strip() if len(msh) > 12 else ""
    if not version:
        raise MissingElement("version missing (message truncated?)", segment="MSH", field="12")
    if len(msh) <= 9 or not msh[9].strip():
        raise MissingElement("message type missing", segment="MSH", field="9")
    target = parser_version(version)
    if target != version:
        msh[12] = target + msh[12][len(msh[12].split(chars.component)[0]) :]
        segments[0] = "MSH" + chars.field + chars.field.join(msh[2:])
    wanted = None if keep is None else frozenset(keep) | {"MSH"}
    kept = [s for s in segments if wanted is None or s[:3] in wanted]
    try:
        tree = parse_message("\r".join(kept), validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    except Exception as exc:  # hl7apy raises many types (ParserError, InvalidName, ValueError ...)
        name = type(exc).__name__
        raise InvalidValue(f"hl7apy could not parse the message ({name})", segment="MSH") from exc
    parsed = _flatten(tree.children, chars, charset)
    type_parts = msh[9].split(chars.component)
    message_type = chars.component.join(p.strip() for p in type_parts[:2])
    return Message(
        segments=parsed,
        version=version,
        parser_version=target,
        message_type=message_type,
        control_id=(msh[10].strip() or None) if len(msh) > 10 else None,
        charset=charset,
        encoding_characters=chars,
    )


def _position(name: str | None, previous: int) -> int:
    if name:
        match = _POSITION.search(name)
        if match:
            return int(match.group(1))
    return previous + 1


def _leaf(element: object) -> str:
    value = getattr(element, "value", None)
    inner = getattr(value, "value", None)
    if isinstance(inner, str):
        return inner
    if inner is None:
        return ""
    return str(value.to_er7())  # type: ignore[union-attr]  # dates and numbers: back to their ER7 form


def _flatten(children: Sequence[object], chars: EncodingCharacters, charset: str) -> list[Segment]:
    counts: dict[str, int] = {}
    segments: list[Segment] = []
    for seg in children:
        name = str(getattr(seg, "name", ""))
        counts[name] = counts.get(name, 0) + 1
        segment = Segment(name=name, index=counts[name])
        for fld in getattr(seg, "children", ()):
            match = _POSITION.search(getattr(fld, "name", None) or "")
            if not match:
                continue  # a field beyond those the version defines: hl7apy drops its position
            number = int(match.group(1))
            rep: Repetition = []
            last = 0
            for comp in getattr(fld, "children", ()):
                position = _position(getattr(comp, "name", None), last)
                while len(rep) < position - 1:
                    rep.append([""])
                subs: list[str] = []
                last_sub = 0
                for sub in getattr(comp, "children", ()):
                    sub_position = _position(getattr(sub, "name", None), last_sub)
                    while len(subs) < sub_position - 1:
                        subs.append("")
                    raw = _leaf(sub)
                    subs.append(raw if number <= 2 and name == "MSH" else unescape(raw, chars, charset))
                    last_sub = sub_position
                rep.append(subs or [""])
                last = position
            segment.fields.setdefault(number, []).append(rep)
        segments.append(segment)
    return segments


# --- batches --------------------------------------------------------------------------------------------------------


def split_batch(data: bytes | str) -> list[bytes]:
    """The messages of a batch (``[FHS] BHS {MSH ...} BTS [FTS]``, HL7 v2 chapter 2.10) as CR-terminated bytes.

    A single message comes back as a one-element list. Bytes keep their encoding; text is encoded with the
    character set its MSH-18 names (UTF-8 when empty). BTS-1 (batch message count), when valued, must match.
    """
    if isinstance(data, str):
        framed = data.lstrip("\ufeff")
        raw = framed.encode("utf-8", errors="surrogateescape")
        messages = _split_batch_bytes(raw)
        return [_reencode(m) for m in messages]
    if len(data) > MAX_MESSAGE_BYTES:
        raise UnsupportedInput(f"batch larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB")
    return _split_batch_bytes(data)


def _reencode(message: bytes) -> bytes:
    declared = declared_charset(first_segment(message).decode("latin-1"))
    codec = codec_for(declared) if declared else "utf-8"
    if codec == "utf-8":
        return message
    try:
        return message.decode("utf-8").encode(codec)
    except UnicodeError as exc:
        raise InvalidValue(
            f"text does not fit the character set MSH-18 names ({codec})", segment="MSH", field="18"
        ) from exc


def _split_batch_bytes(data: bytes) -> list[bytes]:
    data = unframe(data)
    if b"\x00" in data:
        raise UnsupportedInput("binary data (NUL bytes), not an HL7 v2 batch")
    lines = [s for s in data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r") if s.strip()]
    if not lines or lines[0][:3] not in (b"MSH", b"BHS", b"FHS"):
        raise UnsupportedInput("not an HL7 v2 message or batch: it starts with neither MSH, BHS nor FHS")
    messages: list[list[bytes]] = []
    declared_count: int | None = None
    for line in lines:
        name = line[:3]
        if name in (b"FHS", b"BHS", b"FTS"):
            continue
        if name == b"BTS":
            count = line[4:].split(line[3:4] or b"|")[0].strip() if len(line) > 4 else b""
            if count.isdigit():
                declared_count = (declared_count or 0) + int(count)
            continue
        if name == b"MSH":
            messages.append([line])
        elif messages:
            messages[-1].append(line)
        else:
            raise InvalidValue("segment before the first MSH in the batch", segment=name.decode("latin-1"))
    if declared_count is not None and declared_count != len(messages):
        raise InvalidValue(
            f"batch trailer counts {declared_count} messages, found {len(messages)} (truncated batch?)",
            segment="BTS",
            field="1",
        )
    return [b"\r".join(m) + b"\r" for m in messages]
