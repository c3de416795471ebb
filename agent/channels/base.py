"""The small interface every channel implements, shaped like httpx's transports.

A channel turns the outside world into ``Inbound`` events (stored raw by the job store before anything is
acknowledged), turns one event into cases with the context a letter needs, and writes a finished draft back.
Each method must be idempotent: the job store may call it again after a crash or a retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from rtletter.mappers.case import Case
from rtletter.mappers.draft_gate import DraftCheck


@dataclass(frozen=True)
class Inbound:
    """One raw event as received: a FHIR notification or resource, an HL7 message, a dropped file."""

    channel: str  # "fhir", "mllp", "file"
    key: str  # the source's own id for dedupe: "Procedure/123/_history/4", MSH-10, file name + hash
    payload: bytes
    content_type: str  # "application/fhir+json", "x-application/hl7-v2+er7", ...
    received_at: datetime
    meta: dict[str, str] = field(default_factory=dict)  # no PHI here: it is logged


@dataclass(frozen=True)
class Draft:
    """A generated letter for one case, before it is posted."""

    case_id: str
    text: str
    language: str
    model: str  # base model + adapter version
    prompt_tokens: int
    completion_tokens: int
    generated_at: datetime
    check: DraftCheck | None = None  # the draft-time check (fact-check findings, truncation) the write-back carries


@dataclass(frozen=True)
class Posted:
    """Where a draft landed: resource references or file paths, for the job record and the worklist."""

    document: str  # "DocumentReference/abc" or an outbox path
    task: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    name: str

    def poll(self) -> list[Inbound]:
        """Return new events since the last call (polling channels); push channels return []."""
        ...

    def fetch_context(self, inbound: Inbound) -> list[Case]:
        """Map one stored event to its case(s), fetching whatever context the letter needs."""
        ...

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        """Write the draft back (idempotently: a retry converges on one document)."""
        ...


@runtime_checkable
class Acknowledges(Protocol):
    """Optional: a channel told when an event is durably stored, so it may let go of it (delete the inbox file,
    advance the poll mark). Called after the commit, never before; it may be called again for a replay."""

    def acknowledge(self, inbound: Inbound) -> None: ...


@runtime_checkable
class RollsBack(Protocol):
    """Optional: a channel told that the events of its last ``poll()`` could not all be stored, so that it delivers
    them again (the FHIR poller forgets its staged mark and seen versions)."""

    def rollback(self) -> None: ...


@runtime_checkable
class Quarantines(Protocol):
    """Optional: a channel that can put an unmappable event aside for a person (a quarantine folder, an AE ACK
    already sent). ``reason`` is the one-line mapping error, free of PHI."""

    def quarantine(self, inbound: Inbound, reason: str) -> object: ...
