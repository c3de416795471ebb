"""The draft letter as one FHIR R4 transaction: DocumentReference + Device + Provenance + Task.

Standards (see docs/standards.md, "Writing the draft back"):

- One ``transaction`` Bundle, all or nothing. Every entry is a conditional create (``request.ifNoneExist`` on a
  deterministic identifier): 0 matches -> 201 created, 1 match -> 200 and nothing created, >1 -> 412. A retried or
  duplicated job therefore converges on one draft.
- DocumentReference: ``status=current``, ``docStatus=preliminary``, type LOINC 68602-2 (configurable, fallbacks
  below), US Core category ``clinical-note``, author -> the AI Device, ``context.related`` -> course summary and
  Condition, attachment ``text/plain; charset=utf-8`` with base64 data, base64 SHA-1 ``hash`` and ``language``,
  ``meta.security`` AIAST (AI Transparency on FHIR).
- Device: AI Transparency ``AI-Device`` profile, type ``Artificial-Intelligence``, base model name and adapter version.
- Provenance: target the DocumentReference, agent = the AI Device (type author), entity = every input resource
  version (role derivation). R4 Provenance has no ``identifier``: its conditional create is a chained search on the
  target's identifier (``target:DocumentReference.identifier=...``).
- Task: ``code`` task-code#approve, ``status=requested``, ``intent=order``, ``focus`` -> DocumentReference,
  ``for`` -> Patient, ``owner`` -> responsible physician, ``requester`` -> the Device.

Pure: no clock (``now`` is passed in), no network. fullUrls are ``urn:uuid:`` values derived from the identifiers,
so the same inputs give the same Bundle byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime
from typing import Any

from rtletter.mappers.case import Case, Coding
from rtletter.mappers.codes import (
    AI_DEVICE_TYPE_SYSTEM,
    LOINC,
    OBSERVATION_VALUE,
    PROVENANCE_PARTICIPANT_TYPE,
    TASK_CODE,
    US_CORE_DOCUMENT_CATEGORY,
)
from rtletter.mappers.draft_gate import DraftCheck
from rtletter.mappers.errors import InvalidValue, MissingElement

# docs/standards.md: 68602-2 "Radiation oncology Summary note" (verify at the site); fallbacks in order.
DOC_TYPES: dict[str, Coding] = {
    "68602-2": Coding(system=LOINC, code="68602-2", display="Radiation oncology Summary note"),
    "18842-5": Coding(system=LOINC, code="18842-5", display="Discharge summary"),
    "11490-0": Coding(system=LOINC, code="11490-0", display="Physician Discharge summary"),
    "28570-0": Coding(system=LOINC, code="28570-0", display="Procedure note"),
}
DEFAULT_DOC_TYPE = DOC_TYPES["68602-2"]

AIAST = {
    "system": OBSERVATION_VALUE,
    "code": "AIAST",
    "display": "Artificial Intelligence asserted",
}
AI_DEVICE_PROFILE = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Device"
AI_DEVICE_TYPE = {
    "system": AI_DEVICE_TYPE_SYSTEM,
    "code": "Artificial-Intelligence",
    "display": "All kinds of Artificial Intelligence",
}
PROVENANCE_AUTHOR = {
    "system": PROVENANCE_PARTICIPANT_TYPE,
    "code": "author",
    "display": "Author",
}
TASK_APPROVE = {"system": TASK_CODE, "code": "approve", "display": "Activate/approve"}
CONTENT_TYPE = "text/plain; charset=utf-8"

# Identifiers are URIs (RFC 3986) holding name-based UUIDs, so that the same case and draft version always give the
# same identifier and every server can search them as tokens.
IDENTIFIER_SYSTEM = "urn:ietf:rfc:3986"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://rtletter.invalid/fhir/draft")


# Task.input types of the draft-time check (plain text concepts: no standard code exists for them).
CHECK_FINDINGS = "fact-check findings"
CHECK_CONTRADICTED = "fact-check findings contradicting the source"
CHECK_TRUNCATED = "draft truncated at the token limit"
CHECK_OMITTED = "key facts of the course not stated in the draft"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def draft_ids(case_id: str, draft_version: int = 1) -> dict[str, str]:
    """The deterministic UUIDs of one draft's DocumentReference, Task and Provenance."""
    version = str(draft_version)
    return {
        "DocumentReference": _uuid("document", case_id, version),
        "Task": _uuid("task", case_id, version),
        "Provenance": _uuid("provenance", case_id, version),
    }


def device_id(model_name: str, adapter_version: str) -> str:
    """The deterministic UUID of the AI Device (one per base model + adapter version, shared by all drafts)."""
    return _uuid("device", model_name, adapter_version)


def identifier_query(value_uuid: str) -> str:
    """The token search value for an identifier made by this module."""
    return f"{IDENTIFIER_SYSTEM}|urn:uuid:{value_uuid}"


def _identifier(value_uuid: str) -> dict[str, str]:
    return {"system": IDENTIFIER_SYSTEM, "value": f"urn:uuid:{value_uuid}"}


def instant(now: datetime) -> str:
    """``now`` as a FHIR ``instant`` (milliseconds, with its offset); a naive clock raises. The sign-off uses it too."""
    if now.tzinfo is None:
        raise InvalidValue("the clock must be timezone-aware", resource="Bundle", element="now")
    return now.isoformat(timespec="milliseconds")


def _plain(reference: str) -> str:
    """``Procedure/x/_history/6`` -> ``Procedure/x``."""
    return reference.split("/_history/", 1)[0]


def _coding(coding: Coding) -> dict[str, str]:
    return {k: v for k, v in coding.model_dump().items() if v is not None}


def _patient_reference(case: Case) -> str:
    source = case.patient.source or ""
    if source.startswith("Patient/"):
        return _plain(source)
    found = next((ref for ref in case.inputs if ref.startswith("Patient/")), None)
    if found is None:
        raise MissingElement("no FHIR Patient reference to file the draft under", resource="Patient", element="source")
    return _plain(found)


def _course_reference(case: Case) -> str:
    source = case.course.source or ""
    return _plain(source) if source.startswith("Procedure/") else f"Procedure/{case.course.id}"


def _condition_references(case: Case) -> list[str]:
    refs = [_plain(d.source) for d in case.diagnoses if d.source and d.source.startswith("Condition/")]
    return list(dict.fromkeys(refs))


def _owner_reference(case: Case, responsible: str | None) -> str | None:
    if responsible:
        return responsible
    source = case.treating_physician.source if case.treating_physician else None
    if source and source.split("/", 1)[0] in ("Practitioner", "PractitionerRole"):
        return _plain(source)
    return None


def draft_transaction(
    case: Case,
    draft_text: str,
    *,
    model_name: str,
    adapter_version: str,
    language: str,
    responsible: str | None,
    now: datetime,
    doc_type: Coding | None = None,
    draft_version: int = 1,
    check: DraftCheck | None = None,
) -> dict[str, Any]:
    """Build the write-back transaction for one draft letter.

    Args:
        case: the case the letter was written for; ``case.inputs`` lists the resource versions it was built from.
        draft_text: the letter as plain text.
        model_name: base model name (``Meta-Llama-3-8B-Instruct``); adapter_version: the QLoRA adapter's version.
        language: ``de`` or ``en``.
        responsible: reference of the physician who must sign (``Practitioner/123``); else the treating physician's
            source reference; else the Task has no owner.
        now: timezone-aware time of posting.
        doc_type: DocumentReference.type coding; default LOINC 68602-2.
        draft_version: 1 for the first draft of a course; a deliberate redraft uses 2, 3, ...
        check: the draft-time check; the Task carries it as ``input`` (fact-check findings, contradicted, truncated,
            key facts not stated)
            and the DocumentReference's description says so, so that the EHR's work queue can show it.

    Returns:
        A FHIR R4 transaction Bundle as a JSON-ready dict (validated with fhir.resources R4B).

    Raises:
        MissingElement: no Patient reference in the case; InvalidValue: empty text or a naive clock.
    """
    if not draft_text.strip():
        raise InvalidValue("the draft is empty", resource="DocumentReference", element="content.attachment.data")
    stamp = instant(now)
    ids = draft_ids(case.case_id, draft_version)
    device_uuid = device_id(model_name, adapter_version)
    doc_url, task_url = f"urn:uuid:{ids['DocumentReference']}", f"urn:uuid:{ids['Task']}"
    device_url, provenance_url = f"urn:uuid:{device_uuid}", f"urn:uuid:{ids['Provenance']}"
    patient = _patient_reference(case)
    raw = draft_text.encode("utf-8")

    device: dict[str, Any] = {
        "resourceType": "Device",
        "meta": {"profile": [AI_DEVICE_PROFILE]},
        "identifier": [_identifier(device_uuid)],
        "status": "active",
        "deviceName": [{"name": model_name, "type": "model-name"}],
        "type": {"coding": [AI_DEVICE_TYPE]},
        "version": [{"value": adapter_version}],
    }
    related = [{"reference": _course_reference(case)}, *({"reference": r} for r in _condition_references(case))]
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {"security": [AIAST]},
        "identifier": [_identifier(ids["DocumentReference"])],
        "status": "current",
        "docStatus": "preliminary",
        "type": {"coding": [_coding(doc_type or DEFAULT_DOC_TYPE)]},
        "category": [
            {"coding": [{"system": US_CORE_DOCUMENT_CATEGORY, "code": "clinical-note", "display": "Clinical Note"}]}
        ],
        "subject": {"reference": patient},
        "date": stamp,
        "author": [{"reference": device_url}],
        "description": "End-of-treatment letter (radiotherapy), AI draft for physician review",
        "content": [
            {
                "attachment": {
                    "contentType": CONTENT_TYPE,
                    "language": language,
                    "data": base64.b64encode(raw).decode("ascii"),
                    "size": len(raw),
                    # FHIR R4 Attachment.hash: base64 of the SHA-1 of the raw bytes
                    "hash": base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode("ascii"),
                    "title": "Arztbrief (Entwurf)" if language == "de" else "End-of-treatment letter (draft)",
                    "creation": stamp,
                }
            }
        ],
        "context": {"related": related},
    }
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": doc_url}],
        "recorded": stamp,
        "agent": [{"type": {"coding": [PROVENANCE_AUTHOR]}, "who": {"reference": device_url}}],
        "entity": [{"role": "derivation", "what": {"reference": ref}} for ref in dict.fromkeys(case.inputs)],
    }
    if not provenance["entity"]:
        del provenance["entity"]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [_identifier(ids["Task"])],
        "status": "requested",
        "intent": "order",
        "code": {"coding": [TASK_APPROVE]},
        "description": "Review and sign the AI-drafted end-of-treatment letter",
        "focus": {"reference": doc_url},
        "for": {"reference": patient},
        "authoredOn": stamp,
        "requester": {"reference": device_url},
    }
    owner = _owner_reference(case, responsible)
    if owner:
        task["owner"] = {"reference": owner}
    if check is not None:
        task["input"] = [
            {"type": {"text": CHECK_FINDINGS}, "valueInteger": check.findings},
            {"type": {"text": CHECK_CONTRADICTED}, "valueInteger": check.contradicted},
            {"type": {"text": CHECK_TRUNCATED}, "valueBoolean": check.truncated},
            {"type": {"text": CHECK_OMITTED}, "valueInteger": check.omitted},
        ]
        document["description"] += f" ({check.summary()})"

    doc_query = identifier_query(ids["DocumentReference"])
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry(device_url, device, f"identifier={identifier_query(device_uuid)}"),
            _entry(doc_url, document, f"identifier={doc_query}"),
            _entry(provenance_url, provenance, f"target:DocumentReference.identifier={doc_query}"),
            _entry(task_url, task, f"identifier={identifier_query(ids['Task'])}"),
        ],
    }
    validate_bundle(bundle)
    return bundle


def _entry(full_url: str, resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": if_none_exist},
    }


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Validate with fhir.resources (R4B models, which match R4 for these resources). Messages keep only the element
    path and the error kind: pydantic would otherwise quote the offending value, which may be PHI."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidValue(
            f"write-back bundle is not valid FHIR ({first.get('type')})", resource="Bundle", element=where
        ) from None
