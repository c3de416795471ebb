"""MSH read on its own, before (or without) a full parse: the first segment, its fields, the character set it names.

MSH-1 is the field separator itself and MSH-2 the encoding characters (HL7 v2.x chapter 2, "Message construction
rules"), so MSH is split by the character after ``MSH``; its fields are numbered so that ``fields[n]`` is MSH-n.
MSH is ASCII in every supported character set, so it is read as latin-1 before the character set is known.

The parser (``message.parse``) and the agent's MLLP listener (which answers from MSH alone, before the full parse)
both read MSH here; what a bad MSH means for the acknowledgement is the listener's business.
"""

from __future__ import annotations


def first_segment(data: bytes) -> bytes:
    """The bytes up to the first segment end (CR, or LF from files and some senders)."""
    end = len(data)
    for terminator in (b"\r", b"\n"):
        found = data.find(terminator)
        if 0 <= found < end:
            end = found
    return data[:end]


def msh_fields(msh: str) -> list[str]:
    """The fields of an MSH segment, indexed so that ``fields[n]`` is MSH-n (``fields[1]`` the separator)."""
    separator = msh[3]
    return ["", separator, *msh[4:].split(separator)]


def msh_field(fields: list[str], number: int) -> str:
    """MSH-n as sent, or an empty string when the segment ends before it."""
    return fields[number] if number < len(fields) else ""


def declared_charset(msh: str) -> str | None:
    """MSH-18 (its first repetition): the character set the sender names, or None when it names none."""
    fields = msh_fields(msh)
    if len(fields) <= 18 or not fields[18].strip():
        return None
    repetition = fields[2][1:2] or "~"
    return fields[18].split(repetition)[0].strip() or None
