"""rtletter.mappers.fhir: FHIR R4 in (a Bundle -> cases) and out (the draft, the physician's decision).

In: ``case_from_bundle`` (``bundle``) reads each radiotherapy course summary with its context: ``index`` (references,
extensions, codings), ``people``, ``conditions``, ``course``, ``context`` (therapies, toxicities, follow-up ...).
``check_nesting`` screens raw JSON before it is parsed.

Out: ``draft_transaction`` (``writeback``: DocumentReference + Device + Provenance + Task) and ``sign_transaction``,
``reject_transaction``, ``supersede_transaction`` (``signoff``); ``attachment_text`` reads a letter back.

Profile and extension URLs are in ``profiles``; code systems and codes in ``rtletter.mappers.codes``.
"""

from rtletter.mappers.fhir.bundle import case_from_bundle, check_nesting
from rtletter.mappers.fhir.signoff import attachment_text, reject_transaction, sign_transaction, supersede_transaction
from rtletter.mappers.fhir.writeback import draft_ids, draft_transaction

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
