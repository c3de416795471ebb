"""rtletter.mappers.hl7v2: HL7 v2 in (a message -> the case, an MDM document) and the letter out as MDM.

Bytes to a parsed message: ``framing`` (MLLP blocks), ``header`` (MSH on its own), ``message`` (character set,
batches, escapes, hl7apy). The site's ``profile`` says which OBX codes and Z-segment fields carry what.
A parsed message to the case: ``observations`` collects the profile's roles; ``people``, ``diagnoses``, ``course``,
``events`` and ``documents`` map them with the standard segments; ``case`` puts them together (``case_from_v2``).
Out: ``mdm`` builds the MDM^T02 draft, its signed version and the MDM^T11 cancel.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtletter.mappers.hl7v2.case import case_from_message, case_from_v2
    from rtletter.mappers.hl7v2.documents import Document, document_from_v2
    from rtletter.mappers.hl7v2.mdm import control_id, document_id, mdm_cancel, mdm_from_draft
    from rtletter.mappers.hl7v2.message import Message, parse, split_batch
    from rtletter.mappers.hl7v2.profile import Profile, default_profile, load_profile

# Loaded on first use, so that importing one module of the package (framing, writeback ...) stays as cheap as it was
# before the package existed: the listener and the CLI start without hl7apy's or fhir.resources' models.
_EXPORTS = {
    "Document": "documents",
    "Message": "message",
    "Profile": "profile",
    "case_from_message": "case",
    "case_from_v2": "case",
    "control_id": "mdm",
    "default_profile": "profile",
    "document_from_v2": "documents",
    "document_id": "mdm",
    "load_profile": "profile",
    "mdm_cancel": "mdm",
    "mdm_from_draft": "mdm",
    "parse": "message",
    "split_batch": "message",
}

__all__ = [
    "Document",
    "Message",
    "Profile",
    "case_from_message",
    "case_from_v2",
    "control_id",
    "default_profile",
    "document_from_v2",
    "document_id",
    "load_profile",
    "mdm_cancel",
    "mdm_from_draft",
    "parse",
    "split_batch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
