"""The document an MDM message carries: TXA (type, completion status TXA-17, unique id, author) and its text OBX.

``document_from_v2`` reads it on its own, e.g. to see whether a document the receiver sends back is signed (AU).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from rtletter.mappers.errors import MissingElement
from rtletter.mappers.hl7v2.message import MAPPED_SEGMENTS, Message, parse
from rtletter.mappers.hl7v2.observations import Observations, collect_observations, obx_text
from rtletter.mappers.hl7v2.people import first_repetition, xcn_name
from rtletter.mappers.hl7v2.profile import Profile, default_profile
from rtletter.mappers.hl7v2.values import parse_date


class Document(BaseModel):
    """The document an MDM message carries (TXA) and its text content (TX/FT/ST OBX)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_type: str | None = None  # TXA-2 (table 0270: DS discharge summary, PN progress note ...)
    status: str | None = None  # TXA-17 completion status (table 0271: IP, DI, DO, AU, LA ...)
    unique_id: str | None = None  # TXA-12
    activity: date | None = None  # TXA-4 activity date
    author: str | None = None  # TXA-9 originator (else TXA-5 primary activity provider)
    text: str | None = None


def read_document(message: Message, found: Observations) -> Document:
    txa = message.first("TXA")
    if txa is None:
        raise MissingElement("no TXA segment", segment="TXA")
    lines = [t for t in (obx_text(seg) for seg, _ in found.unclaimed_text) if t]
    return Document(
        document_type=txa.get(2),
        status=txa.get(17),
        unique_id=txa.get(12),
        activity=parse_date(txa.get(4), txa.where(4)),
        author=xcn_name(first_repetition(txa, 9)) or xcn_name(first_repetition(txa, 5)),
        text="\n".join(lines) or None,
    )


def document_from_v2(message: bytes | str, profile: Profile | None = None) -> Document | None:
    """The TXA document of an MDM message (its completion status TXA-17 and text), or None without TXA."""
    profile = profile or default_profile()
    parsed = parse(message, default_encoding=profile.default_encoding, keep=MAPPED_SEGMENTS | profile.z_segments)
    if parsed.first("TXA") is None:
        return None
    return read_document(parsed, collect_observations(parsed, profile))
