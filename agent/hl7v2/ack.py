"""Acknowledgements: which code, whether to send one at all, and the ACK message itself.

Modes (HL7 v2.5 chapter 2.9): when MSH-15 and MSH-16 are both empty the sender uses *original* mode and gets an
application acknowledgement: AA accepted, AE error, AR rejected. Otherwise it uses *enhanced* mode and gets an
accept (commit) acknowledgement: CA, CE, CR; MSH-15 says when: AL always (also when empty here), NE never, ER only
on an error, SU only on success. The application acknowledgement of enhanced mode (MSH-16) is not sent: the letter
is drafted hours later and reviewed by a person, and the commit ACK already says the message is safe with us.

rtletter answers AA/CA only after the raw message is committed to the job store. The ACK is written with the
sender's own separators (MSH-1, MSH-2) and character set, so that copied MSH fields stay valid; control characters
in copied fields are dropped (a NUL or a frame byte in the answer would break the sender's reader), and a
character set the answer cannot be written in falls back to ASCII. The ERR segment
names where the problem is: ERR-2 (error location), ERR-3 (HL7 table 0357 code), ERR-4 severity and ERR-8 the text
for v2.5 and newer; ERR-1 (segment^sequence^field^code) for older versions, where ERR-2.. did not exist.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rtletter.agent.hl7v2.header import ERROR_TEXT, Header, HeaderError

ACCEPT, ERROR, REJECT = "A", "E", "R"  # second letter of the code: AA/CA, AE/CE, AR/CR
DEFAULT_VERSION = "2.5.1"  # for answers to messages whose MSH could not be read
_counter = itertools.count(1)
_prefix = f"{os.getpid() % 100000:05d}"


def enhanced_mode(header: Header) -> bool:
    return bool(header.accept_ack_type or header.application_ack_type)


def ack_code(header: Header, outcome: str) -> str:
    """``outcome`` A/E/R -> AA/AE/AR (original mode) or CA/CE/CR (enhanced mode)."""
    return ("C" if enhanced_mode(header) else "A") + outcome


def should_answer(header: Header, outcome: str) -> bool:
    """Whether the sender asked for this acknowledgement (always in original mode; MSH-15 in enhanced mode)."""
    if not enhanced_mode(header):
        return True
    wanted = header.accept_ack_type or "AL"
    if wanted == "NE":
        return False
    if wanted == "ER":
        return outcome != ACCEPT
    if wanted == "SU":
        return outcome == ACCEPT
    return True


def new_control_id() -> str:
    """Unique within this process and across restarts, at most 20 characters (MSH-10 is ST 20 before v2.7)."""
    return f"R{_prefix}{datetime.now(UTC):%H%M%S}{next(_counter) % 10_000_000:07d}"


@dataclass(frozen=True)
class AckError:
    """What goes into ERR: HL7 error code (table 0357), where, and a PHI-free text."""

    code: str
    text: str
    segment: str = "MSH"
    sequence: int = 1
    field: int | None = None

    @classmethod
    def from_header_error(cls, exc: HeaderError) -> AckError:
        return cls(code=exc.code, text=str(exc), segment=exc.segment, sequence=exc.sequence, field=exc.field)


def _escape(text: str, separators: str) -> str:
    field, component, repetition, escape, subcomponent = tuple(separators[:5])
    out = text.replace(escape, f"{escape}E{escape}")
    for char, code in ((field, "F"), (component, "S"), (repetition, "R"), (subcomponent, "T")):
        out = out.replace(char, f"{escape}{code}{escape}")
    return out.replace("\r", " ").replace("\n", " ")


def _new_style_err(version: str) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (2, 5)
    except (ValueError, IndexError):
        return True


def build_ack(
    header: Header | None,
    outcome: str,
    *,
    error: AckError | None = None,
    now: datetime | None = None,
    control_id: str | None = None,
) -> bytes:
    """The ACK message for ``header`` (None: the message's MSH could not be read), unframed, CR-terminated."""
    header = printable(header or Header())
    sep = header.separators
    f, c, s = sep[0], sep[1], sep[4]
    code = ack_code(header, outcome)
    version = header.version or DEFAULT_VERSION
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    msh = [
        "MSH",
        sep[1:],
        header.receiving_application,  # we answer as the application the message was for
        header.receiving_facility,
        header.sending_application,
        header.sending_facility,
        stamp,
        "",
        f"ACK{c}{header.trigger_event}{c}ACK" if header.trigger_event else f"ACK{c}{c}ACK",
        control_id or new_control_id(),
        header.processing_id or "P",
        version,
    ]
    if enhanced_mode(header) or header.charset:
        no_ack = "NE" if enhanced_mode(header) else ""  # an acknowledgement is not acknowledged
        msh += ["", "", no_ack, no_ack, "", header.charset]
    segments = [_msh(msh, f)]
    msa = ["MSA", code, header.control_id]
    if error is not None:
        msa.append(_escape(error.text, sep)[:80])  # MSA-3 text message: what older receivers show
    segments.append(f.join(msa))
    if error is not None:
        text = _escape(error.text, sep)
        label = ERROR_TEXT.get(error.code, "")
        field_position = "" if error.field is None else str(error.field)
        if _new_style_err(version):
            location = c.join([error.segment, str(error.sequence), field_position]).rstrip(c)
            segments.append(
                f.join(["ERR", "", location, c.join([error.code, label, "HL70357"]), "E", "", "", "", text])
            )
        else:
            eld = c.join([error.segment, str(error.sequence), field_position, s.join([error.code, label, "HL70357"])])
            segments.append(f.join(["ERR", eld]))
    body = "\r".join(segments) + "\r"
    try:
        return body.encode(header.codec, errors="replace")
    except (LookupError, UnicodeError):  # a codec that is not a character set: ASCII is read by every sender
        return body.encode("ascii", errors="replace")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(header: Header) -> Header:
    """The header without control characters in the fields the answer copies."""
    changed = {
        name: _CONTROL.sub("", value)
        for name, value in header.__dict__.items()
        if isinstance(value, str) and name != "separators" and _CONTROL.search(value)
    }
    return replace(header, **changed) if changed else header


def _msh(fields: list[str], separator: str) -> str:
    # MSH-1 is the separator itself: "MSH" + "|" + "^~\&" + "|" + MSH-3 ...
    return "MSH" + separator + separator.join(fields[1:])
