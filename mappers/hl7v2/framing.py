"""MLLP framing (HL7 v2 Implementation Guide, Appendix C, Minimal Lower Layer Protocol release 2): the bytes and the
pure helpers that add or remove them.

A frame is ``<VT 0x0B> message <FS 0x1C><CR 0x0D>``. The parser, ``load_cases`` and the agent's MLLP listener and
client all take these bytes from here; the listener's incremental decoder for a TCP stream (frames split across
reads) stays with the listener (``rtletter.agent.hl7v2.framing``).
"""

from __future__ import annotations

from typing import Final

from rtletter.mappers.errors import InvalidValue

START: Final = b"\x0b"  # VT: start block
END: Final = b"\x1c"  # FS: end block, followed by CR
CR: Final = b"\r"
UTF8_BOM: Final = b"\xef\xbb\xbf"  # some senders put one before MSH, inside the frame or without one
_WHITESPACE = b" \t\r\n"


def frame(message: bytes) -> bytes:
    """Wrap one message for the wire."""
    return START + message + END + CR


def unframe(data: bytes) -> bytes:
    """Remove MLLP framing (0x0B ... 0x1C 0x0D), a UTF-8 byte order mark and surrounding whitespace."""
    data = data.strip(_WHITESPACE)
    if data.startswith(START):
        end = data.rfind(END)
        if end < 0:
            raise InvalidValue("MLLP frame has a start block but no end block (truncated message)", segment="MLLP")
        data = data[1:end].strip(_WHITESPACE)
    elif data.endswith(END):
        data = data[:-1].strip(_WHITESPACE)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    return data


def unframe_text(text: str) -> str:
    """Text that may still carry a byte order mark or MLLP blocks -> the message (up to the first end block)."""
    raw = text.lstrip("\ufeff \t\r\n")
    if raw.startswith(START.decode("ascii")):
        raw = raw[1:]
    return raw.split(END.decode("ascii"), 1)[0]


def split_frames(data: bytes) -> list[bytes]:
    """The content of each ``<VT> ... <FS><CR>`` frame (a capture may hold several)."""
    *frames, tail = data.strip(_WHITESPACE).split(END)
    if tail.strip(_WHITESPACE):
        raise InvalidValue("MLLP frame has a start block but no end block (truncated message)", segment="MLLP")
    contents = []
    for chunk in frames:
        chunk = chunk.strip(_WHITESPACE)
        if not chunk.startswith(START):
            raise InvalidValue("MLLP frame does not begin with the start block (0x0B)", segment="MLLP")
        contents.append(chunk[1:])
    return contents
