"""Sign, reject and supersede transactions (mappers.fhir.signoff): versioned updates, hashes, Provenance, Task.
The same bundles go to the real sandbox server in tests/integration/test_review_fhir.py."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from rtletter.mappers.errors import InvalidValue, MissingElement
from rtletter.mappers.fhir.signoff import (
    attachment_text,
    reject_transaction,
    sign_transaction,
    supersede_transaction,
    version_tag,
)
from rtletter.mappers.fhir.writeback import draft_transaction
from tests.factories import fhir_case

DRAFTED = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SIGNED = datetime(2026, 3, 3, 9, 15, tzinfo=UTC)
DRAFT = "Sehr geehrte Frau Kollegin,\nRadiotherapie mit 50,4 Gy in 28 Fraktionen."
FINAL = "Sehr geehrte Frau Kollegin,\nRadiotherapie mit 50,4 Gy in 28 Fraktionen. Ödem Grad 1."
DOCTOR = "Practitioner/dr-7"


def draft_resources(*, server: bool = True, version: str = "1") -> tuple[dict[str, Any], dict[str, Any]]:
    """The draft's DocumentReference and Task, as a server returns them (ids, versionId) or as in the outbox."""
    bundle = draft_transaction(
        fhir_case("1"), DRAFT, model_name="base", adapter_version="a1", language="de", responsible=None, now=DRAFTED
    )
    found = {e["resource"]["resourceType"]: copy.deepcopy(e["resource"]) for e in bundle["entry"]}
    document, task = found["DocumentReference"], found["Task"]
    if server:
        document["id"], task["id"] = "doc-1", "task-1"
        document["meta"] = {**document["meta"], "versionId": version, "lastUpdated": "2026-03-02T14:30:00Z"}
        task["meta"] = {"versionId": version}
        task["focus"] = {"reference": "DocumentReference/doc-1"}
    return document, task


def entries(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["resourceType"]: e for e in bundle["entry"]}


def test_sign_is_versioned_final_with_hash_authenticator_provenance_and_completed_task() -> None:
    document, task = draft_resources(version="4")
    bundle = sign_transaction(document, task, signed_text=FINAL, physician=DOCTOR, now=SIGNED, edited=True)
    Bundle.model_validate(bundle)
    found = entries(bundle)

    doc = found["DocumentReference"]
    assert doc["request"] == {"method": "PUT", "url": "DocumentReference/doc-1", "ifMatch": 'W/"4"'}
    signed = doc["resource"]
    assert signed["docStatus"] == "final" and signed["status"] == "current"
    assert signed["authenticator"] == {"reference": DOCTOR}
    assert signed["meta"] == {"security": document["meta"]["security"]}  # versionId/lastUpdated are the server's
    assert attachment_text(signed) == FINAL
    attachment = signed["content"][0]["attachment"]
    raw = FINAL.encode("utf-8")
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()
    assert attachment["size"] == len(raw) and attachment["language"] == "de"
    assert len(signed["content"]) == 1  # the draft lives on in the version history

    provenance = found["Provenance"]
    assert provenance["request"]["method"] == "POST"
    assert "agent=Practitioner/dr-7" in provenance["request"]["ifNoneExist"]
    roles = {(a["type"]["coding"][0]["code"], a["who"]["reference"]) for a in provenance["resource"]["agent"]}
    assert roles == {("verifier", DOCTOR), ("author", DOCTOR)}
    assert provenance["resource"]["target"] == [{"reference": "DocumentReference/doc-1"}]
    assert provenance["resource"]["entity"] == [
        {"role": "revision", "what": {"reference": "DocumentReference/doc-1/_history/4"}}
    ]

    done = found["Task"]
    assert done["request"] == {"method": "PUT", "url": "Task/task-1", "ifMatch": 'W/"4"'}
    assert done["resource"]["status"] == "completed"
    assert done["resource"]["output"][0]["valueReference"] == {"reference": "DocumentReference/doc-1"}
    assert done["resource"]["executionPeriod"]["end"].startswith("2026-03-03T09:15")


def test_unedited_sign_has_the_physician_as_verifier_only() -> None:
    document, task = draft_resources()
    bundle = sign_transaction(document, task, signed_text=DRAFT, physician=DOCTOR, now=SIGNED, edited=False)
    agents = entries(bundle)["Provenance"]["resource"]["agent"]
    assert [a["type"]["coding"][0]["code"] for a in agents] == ["verifier"]


def test_sign_without_a_task_has_document_and_provenance_only() -> None:
    document, _ = draft_resources()
    bundle = sign_transaction(document, None, signed_text=DRAFT, physician=DOCTOR, now=SIGNED, edited=False)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DocumentReference", "Provenance"]


@pytest.mark.parametrize(
    ("change", "kwargs", "element"),
    [
        ({"docStatus": "final"}, {}, "docStatus"),
        ({"status": "entered-in-error"}, {}, "docStatus"),
        ({}, {"signed_text": "  "}, "content.attachment.data"),
        ({}, {"physician": "Device/x"}, "authenticator"),
        ({}, {"now": datetime(2026, 3, 3, 9, 15)}, "now"),
    ],
)
def test_sign_refuses_bad_input_naming_the_element(change: dict, kwargs: dict, element: str) -> None:
    document, task = draft_resources()
    document.update(change)
    args: dict[str, Any] = {"signed_text": FINAL, "physician": DOCTOR, "now": SIGNED, "edited": True, **kwargs}
    with pytest.raises(InvalidValue) as info:
        sign_transaction(document, task, **args)
    assert info.value.element == element
    assert "Ödem" not in str(info.value) and "Quastenberg" not in str(info.value)


def test_a_resource_with_neither_id_nor_identifier_is_refused() -> None:
    document, task = draft_resources(server=False)
    del document["identifier"]
    with pytest.raises(MissingElement):
        sign_transaction(document, task, signed_text=FINAL, physician=DOCTOR, now=SIGNED, edited=True)


def test_outbox_resources_become_conditional_updates_on_their_identifier() -> None:
    document, task = draft_resources(server=False)
    bundle = sign_transaction(document, task, signed_text=FINAL, physician=DOCTOR, now=SIGNED, edited=True)
    Bundle.model_validate(bundle)
    found = entries(bundle)
    doc = found["DocumentReference"]
    identifier = document["identifier"][0]
    assert doc["request"] == {
        "method": "PUT",
        "url": f"DocumentReference?identifier={identifier['system']}|{identifier['value']}",
    }
    assert doc["fullUrl"].startswith("urn:uuid:")
    assert found["Provenance"]["resource"]["target"] == [{"reference": doc["fullUrl"]}]
    assert "entity" not in found["Provenance"]["resource"]  # no server version to point at
    assert found["Task"]["request"]["url"].startswith("Task?identifier=")
    # Same inputs, same bundle: a retried export writes identical bytes.
    assert bundle == sign_transaction(document, task, signed_text=FINAL, physician=DOCTOR, now=SIGNED, edited=True)


def test_reject_marks_the_document_entered_in_error_and_the_task_rejected_with_the_reason() -> None:
    document, task = draft_resources(version="2")
    bundle = reject_transaction(document, task, reason="  Falsche Seite  ", physician=DOCTOR, now=SIGNED)
    Bundle.model_validate(bundle)
    found = entries(bundle)
    assert found["DocumentReference"]["request"]["ifMatch"] == 'W/"2"'
    assert found["DocumentReference"]["resource"]["status"] == "entered-in-error"
    assert found["DocumentReference"]["resource"]["docStatus"] == "preliminary"
    assert found["Task"]["resource"]["status"] == "rejected"
    assert found["Task"]["resource"]["statusReason"] == {"text": "Falsche Seite"}
    with pytest.raises(InvalidValue) as info:
        reject_transaction(document, task, reason=" ", physician=DOCTOR, now=SIGNED)
    assert info.value.element == "statusReason"
    document["docStatus"] = "final"
    with pytest.raises(InvalidValue):
        reject_transaction(document, task, reason="x", physician=DOCTOR, now=SIGNED)


def test_supersede_links_the_new_draft_and_retires_the_old_one() -> None:
    document, task = draft_resources(version="3")
    new = draft_transaction(
        fhir_case("1"),
        "Neuer Entwurf",
        model_name="base",
        adapter_version="a1",
        language="de",
        responsible=None,
        now=SIGNED,
        draft_version=2,
    )
    bundle = supersede_transaction(new, document, task, now=SIGNED)
    Bundle.model_validate(bundle)
    kinds = [(e["resource"]["resourceType"], e["request"]["method"]) for e in bundle["entry"]]
    assert kinds[:4] == [("Device", "POST"), ("DocumentReference", "POST"), ("Provenance", "POST"), ("Task", "POST")]
    assert kinds[4:] == [("DocumentReference", "PUT"), ("Task", "PUT")]
    assert bundle["entry"][1]["resource"]["relatesTo"] == [
        {"code": "replaces", "target": {"reference": "DocumentReference/doc-1"}}
    ]
    assert bundle["entry"][4]["resource"]["status"] == "superseded"
    assert bundle["entry"][4]["request"]["ifMatch"] == 'W/"3"'
    assert bundle["entry"][5]["resource"]["status"] == "cancelled"
    assert "relatesTo" not in new["entry"][1]["resource"]  # the input is not changed


def test_version_tag() -> None:
    assert version_tag({"meta": {"versionId": "12"}}) == 'W/"12"'
    assert version_tag({"meta": {}}) is None and version_tag({}) is None
