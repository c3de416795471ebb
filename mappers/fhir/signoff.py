"""A physician's decision on a draft as one FHIR R4 transaction: sign, reject, or replace it by a newer draft.

The inputs are the draft's resources as the server holds them now (read just before, with ``meta.versionId``), so
every update is a versioned update: ``request.ifMatch = W/"<versionId>"``. If the EHR changed the DocumentReference
or the Task in between (someone edited or signed it there), the server answers 412 and the whole transaction is
rolled back instead of overwriting that change. A resource without ``id`` (the file channel's outbox bundle never met
a server) becomes a conditional update on its identifier (``PUT DocumentReference?identifier=...``).

- ``sign_transaction``: DocumentReference ``docStatus=final`` whose only attachment is the signed text (new data,
  size, SHA-1 hash, creation; the draft text stays in the resource's version history and in the job store),
  ``authenticator`` = the physician; a *new* Provenance (Task ``completed``). Why a new Provenance rather than
  updating the draft's: a Provenance is a record of one activity at one time. The AI-authoring record stays true
  for the draft version it targets; the sign-off is a second activity (the physician verifies, and authors the
  edits if any) on the next version, with the draft version as its ``entity`` (role ``revision``). Servers keep
  Provenance append-only in practice, and an auditor reads the chain draft -> signed from them.
- ``reject_transaction``: Task ``rejected`` with ``statusReason`` (the physician's words), DocumentReference
  ``status=entered-in-error``.
- ``supersede_transaction``: a new draft's transaction (``draft_transaction`` with the next ``draft_version``) whose
  DocumentReference ``relatesTo`` ``replaces`` the old one; the old DocumentReference becomes ``superseded`` and its
  Task ``cancelled`` (R4 Task has no superseded state), all in one transaction.

Pure: no clock (``now`` is passed in), no network. Validated with fhir.resources R4B.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from datetime import datetime
from typing import Any

from rtletter.mappers.codes import DATA_OPERATION, PROVENANCE_PARTICIPANT_TYPE
from rtletter.mappers.errors import InvalidValue, MissingElement
from rtletter.mappers.fhir.writeback import CONTENT_TYPE, instant, validate_bundle

Resource = dict[str, Any]

VERIFIER = {"system": PROVENANCE_PARTICIPANT_TYPE, "code": "verifier", "display": "Verifier"}
AUTHOR = {"system": PROVENANCE_PARTICIPANT_TYPE, "code": "author", "display": "Author"}
SIGNED_TITLE = {"de": "Arztbrief", "en": "End-of-treatment letter"}
SUPERSEDED_REASON = "superseded by a newer draft"
_FULL_URL_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://rtletter.invalid/fhir/signoff")


def version_tag(resource: Resource) -> str | None:
    """``W/"3"`` for a resource with ``meta.versionId`` 3 (the value of If-Match), else None."""
    version = (resource.get("meta") or {}).get("versionId")
    return f'W/"{version}"' if version else None


def reference(resource: Resource) -> str:
    """``Type/id`` of a server resource; a resource without id has the ``urn:uuid`` fullUrl this module gives it."""
    if resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return _full_url(resource)


def _identifier_query(resource: Resource) -> str | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") and identifier.get("value"):
            return f"{identifier['system']}|{identifier['value']}"
    return None


def _full_url(resource: Resource) -> str:
    rtype = resource.get("resourceType", "")
    key = f"{rtype}/{resource['id']}" if resource.get("id") else f"{rtype}?{_identifier_query(resource)}"
    return f"urn:uuid:{uuid.uuid5(_FULL_URL_NS, key)}"


def _check(resource: Resource, rtype: str) -> None:
    if resource.get("resourceType") != rtype:
        raise InvalidValue(f"expected a {rtype}", resource=rtype, element="resourceType")
    if not resource.get("id") and _identifier_query(resource) is None:
        raise MissingElement(f"the {rtype} has neither id nor identifier", resource=rtype, element="id")


def _update_entry(resource: Resource) -> Resource:
    """A PUT entry: versioned (ifMatch) when the resource came from a server, else conditional on its identifier."""
    rtype = resource["resourceType"]
    body = copy.deepcopy(resource)
    meta = {k: v for k, v in (body.pop("meta", None) or {}).items() if k in ("security", "tag", "profile")}
    if meta:
        body["meta"] = meta
    if resource.get("id"):
        request: Resource = {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
        tag = version_tag(resource)
        if tag:
            request["ifMatch"] = tag
    else:
        request = {"method": "PUT", "url": f"{rtype}?identifier={_identifier_query(resource)}"}
    entry: Resource = {"resource": body, "request": request}
    if not resource.get("id"):
        entry = {"fullUrl": _full_url(resource), **entry}  # references inside the bundle resolve to it
    return entry


def text_attachment(text: str, *, language: str, title: str, now: datetime) -> Resource:
    """A ``text/plain; charset=utf-8`` attachment with size and base64 SHA-1 hash (FHIR R4 Attachment.hash)."""
    raw = text.encode("utf-8")
    return {
        "contentType": CONTENT_TYPE,
        "language": language,
        "data": base64.b64encode(raw).decode("ascii"),
        "size": len(raw),
        "hash": base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode("ascii"),
        "title": title,
        "creation": instant(now),
    }


def attachment_text(document: Resource) -> str | None:
    """The UTF-8 text of a DocumentReference's first plain-text attachment with inline data, or None."""
    for content in document.get("content") or []:
        attachment = content.get("attachment") or {}
        if attachment.get("data") and str(attachment.get("contentType", "")).startswith("text/plain"):
            try:
                return base64.b64decode(attachment["data"]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise InvalidValue(
                    "attachment data is not base64 UTF-8 text",
                    resource="DocumentReference",
                    element="content.attachment.data",
                ) from None
    return None


def _language(document: Resource) -> str:
    for content in document.get("content") or []:
        language = (content.get("attachment") or {}).get("language")
        if language:
            return str(language)
    return "de"


def _physician(physician: str) -> str:
    if physician.split("/", 1)[0] not in ("Practitioner", "PractitionerRole") or "/" not in physician:
        raise InvalidValue(
            "the signer must be a Practitioner or PractitionerRole reference",
            resource="DocumentReference",
            element="authenticator",
        )
    return physician


def _transaction(entries: list[Resource]) -> Resource:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    validate_bundle(bundle)
    return bundle


def sign_transaction(
    document: Resource,
    task: Resource | None,
    *,
    signed_text: str,
    physician: str,
    now: datetime,
    edited: bool,
) -> Resource:
    """Sign the draft: final document with ``signed_text``, a new sign-off Provenance, the Task completed.

    Args:
        document: the draft DocumentReference as read from the server (or from the outbox bundle).
        task: its review Task, or None when the site has none.
        signed_text: the text the physician signed (the draft, possibly edited).
        physician: ``Practitioner/<id>`` (or PractitionerRole) of the signer.
        now: timezone-aware time of the signature.
        edited: the signed text differs from the draft: the physician is then also an author.

    Raises:
        InvalidValue: empty text, a signer that is not a Practitioner(Role), a document already decided
            (``final``/``amended``, or not ``current``); MissingElement: a resource with neither id nor identifier.
    """
    _check(document, "DocumentReference")
    if not signed_text.strip():
        raise InvalidValue("the signed text is empty", resource="DocumentReference", element="content.attachment.data")
    if document.get("status") != "current" or document.get("docStatus") in ("final", "amended"):
        raise InvalidValue("the document is no longer a draft", resource="DocumentReference", element="docStatus")
    signer = _physician(physician)
    stamp = instant(now)
    doc_ref = reference(document)
    language = _language(document)

    signed = copy.deepcopy(document)
    signed["docStatus"] = "final"
    signed["authenticator"] = {"reference": signer}
    signed["content"] = [
        {
            "attachment": text_attachment(
                signed_text, language=language, title=SIGNED_TITLE.get(language, SIGNED_TITLE["en"]), now=now
            )
        }
    ]
    signed["description"] = "End-of-treatment letter (radiotherapy), AI draft reviewed and signed by a physician"
    entries = [_update_entry(signed)]

    draft_version = (document.get("meta") or {}).get("versionId")
    agents: list[Resource] = [{"type": {"coding": [VERIFIER]}, "who": {"reference": signer}}]
    if edited:
        agents.append({"type": {"coding": [AUTHOR]}, "who": {"reference": signer}})
    provenance: Resource = {
        "resourceType": "Provenance",
        "target": [{"reference": doc_ref}],
        "recorded": stamp,
        "activity": {"coding": [{"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"}]},
        "agent": agents,
    }
    if document.get("id") and draft_version:
        what = f"{doc_ref}/_history/{draft_version}"
        provenance["entity"] = [{"role": "revision", "what": {"reference": what}}]
    prov_entry: Resource = {
        "fullUrl": f"urn:uuid:{uuid.uuid5(_FULL_URL_NS, f'provenance|{doc_ref}|{signer}|{draft_version}')}",
        "resource": provenance,
        "request": {"method": "POST", "url": "Provenance"},
    }
    doc_query = _identifier_query(document)
    if doc_query:
        # A retried sign-off (server without versioning) converges on one sign-off Provenance.
        prov_entry["request"]["ifNoneExist"] = f"target:DocumentReference.identifier={doc_query}&agent={signer}"
    entries.append(prov_entry)

    if task is not None:
        _check(task, "Task")
        done = copy.deepcopy(task)
        done["status"] = "completed"
        done["lastModified"] = stamp
        done.pop("statusReason", None)
        done["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": stamp}
        done["output"] = [
            {"type": {"text": "signed document"}, "valueReference": {"reference": doc_ref}},
        ]
        entries.append(_update_entry(done))
    return _transaction(entries)


def reject_transaction(
    document: Resource, task: Resource | None, *, reason: str, physician: str, now: datetime
) -> Resource:
    """Reject the draft: Task ``rejected`` with ``statusReason``, DocumentReference ``entered-in-error``.

    Raises:
        InvalidValue: an empty reason, a signer that is not a Practitioner(Role), a document already final.
    """
    _check(document, "DocumentReference")
    if not reason.strip():
        raise InvalidValue("a reason is required", resource="Task", element="statusReason")
    if document.get("docStatus") in ("final", "amended"):
        raise InvalidValue("the document is signed already", resource="DocumentReference", element="docStatus")
    _physician(physician)
    stamp = instant(now)
    withdrawn = copy.deepcopy(document)
    withdrawn["status"] = "entered-in-error"
    entries = [_update_entry(withdrawn)]
    if task is not None:
        _check(task, "Task")
        rejected = copy.deepcopy(task)
        rejected["status"] = "rejected"
        rejected["statusReason"] = {"text": reason.strip()}
        rejected["lastModified"] = stamp
        rejected["executionPeriod"] = {**(task.get("executionPeriod") or {}), "end": stamp}
        entries.append(_update_entry(rejected))
    return _transaction(entries)


def supersede_transaction(
    draft_bundle: Resource, old_document: Resource, old_task: Resource | None, *, now: datetime
) -> Resource:
    """The new draft's transaction (from ``draft_transaction``), its DocumentReference replacing the old one.

    Raises:
        InvalidValue: the bundle has no DocumentReference, or the old document is signed already.
    """
    _check(old_document, "DocumentReference")
    if old_document.get("docStatus") in ("final", "amended"):
        raise InvalidValue("the document is signed already", resource="DocumentReference", element="docStatus")
    stamp = instant(now)
    bundle = copy.deepcopy(draft_bundle)
    new_doc = next(
        (e["resource"] for e in bundle.get("entry", []) if e["resource"].get("resourceType") == "DocumentReference"),
        None,
    )
    if new_doc is None:
        raise InvalidValue("the new draft has no DocumentReference", resource="Bundle", element="entry")
    new_doc["relatesTo"] = [{"code": "replaces", "target": {"reference": reference(old_document)}}]
    old = copy.deepcopy(old_document)
    old["status"] = "superseded"
    entries = list(bundle["entry"]) + [_update_entry(old)]
    if old_task is not None and old_task.get("status") not in ("completed", "cancelled", "rejected"):
        _check(old_task, "Task")
        cancelled = copy.deepcopy(old_task)
        cancelled["status"] = "cancelled"
        cancelled["statusReason"] = {"text": SUPERSEDED_REASON}
        cancelled["lastModified"] = stamp
        entries.append(_update_entry(cancelled))
    return _transaction(entries)
