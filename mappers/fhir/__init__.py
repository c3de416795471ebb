"""rtletter.mappers.fhir: FHIR R4 in (a Bundle -> cases) and out (the draft, the physician's decision).

In: ``case_from_bundle`` (``bundle``) reads each radiotherapy course summary with its context: ``index`` (references,
extensions, codings), ``people``, ``conditions``, ``course``, ``context`` (therapies, toxicities, follow-up ...).
``check_nesting`` screens raw JSON before it is parsed.

Out: ``draft_transaction`` (``writeback``: DocumentReference + Device + Provenance + Task) and ``sign_transaction``,
``reject_transaction``, ``supersede_transaction`` (``signoff``); ``attachment_text`` reads a letter back.

Profile and extension URLs are in ``profiles``; code systems and codes in ``rtletter.mappers.codes``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtletter.mappers.fhir.bundle import case_from_bundle, check_nesting
    from rtletter.mappers.fhir.signoff import (
        attachment_text,
        reject_transaction,
        sign_transaction,
        supersede_transaction,
    )
    from rtletter.mappers.fhir.writeback import draft_ids, draft_transaction

# Loaded on first use, so that importing one module of the package (framing, writeback ...) stays as cheap as it was
# before the package existed: the listener and the CLI start without hl7apy's or fhir.resources' models.
_EXPORTS = {
    "attachment_text": "signoff",
    "case_from_bundle": "bundle",
    "check_nesting": "bundle",
    "draft_ids": "writeback",
    "draft_transaction": "writeback",
    "reject_transaction": "signoff",
    "sign_transaction": "signoff",
    "supersede_transaction": "signoff",
}

__all__ = [
    "attachment_text",
    "case_from_bundle",
    "check_nesting",
    "draft_ids",
    "draft_transaction",
    "reject_transaction",
    "sign_transaction",
    "supersede_transaction",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
