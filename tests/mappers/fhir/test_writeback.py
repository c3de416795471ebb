"""The write-back transaction: shape, determinism, hashes and references (docs/standards.md, "Writing the draft
back"). The same bundle is posted to a real server in tests/integration/test_fhir_writeback.py."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

from rtletter.mappers.case import Case, Coding, Diagnosis, Patient
from rtletter.mappers.errors import InvalidValue, MissingElement
from rtletter.mappers.fhir.writeback import DOC_TYPES, draft_ids, draft_transaction
from tests.factories import fhir_case

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
TEXT = "Sehr geehrte Frau Kollegin,\nwir berichten über die Radiotherapie: 50,4 Gy in 28 Fraktionen. Ödem Grad 1."


def make_case(**overrides: object) -> Case:
    """``fhir_case("1")`` with a diagnosis among its inputs (the DocumentReference cites it), one input twice."""
    data: dict[str, object] = {
        "diagnoses": [Diagnosis(code=Coding(system="ICD-10-GM", code="C20"), source="Condition/dx-1/_history/1")],
        "inputs": [
            "Procedure/course-1/_history/7",
            "Patient/p-1/_history/3",
            "Condition/dx-1/_history/1",
            "Procedure/course-1/_history/7",
        ],
    }
    data.update(overrides)
    return fhir_case("1", **data)


def build(case: Case | None = None, **kwargs: object) -> dict:
    args: dict[str, object] = {
        "model_name": "Meta-Llama-3-8B-Instruct",
        "adapter_version": "rt-qlora-0.3",
        "language": "de",
        "responsible": None,
        "now": NOW,
    }
    args.update(kwargs)
    return draft_transaction(case or make_case(), TEXT, **args)  # type: ignore[arg-type]


def resources(bundle: dict) -> dict[str, dict]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def test_draft_transaction_is_one_valid_transaction_of_four_conditional_creates() -> None:
    bundle = build()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "Device",
        "DocumentReference",
        "Provenance",
        "Task",
    ]
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["url"] == entry["resource"]["resourceType"]
        assert entry["request"]["ifNoneExist"]
        assert entry["fullUrl"].startswith("urn:uuid:")
    doc_identifier = resources(bundle)["DocumentReference"]["identifier"][0]
    provenance_entry = bundle["entry"][2]
    assert provenance_entry["request"]["ifNoneExist"] == (
        f"target:DocumentReference.identifier={doc_identifier['system']}|{doc_identifier['value']}"
    )


def test_document_reference_carries_text_hash_language_and_ai_label() -> None:
    doc = resources(build())["DocumentReference"]
    assert (doc["status"], doc["docStatus"]) == ("current", "preliminary")
    assert doc["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "68602-2",
        "display": "Radiation oncology Summary note",
    }
    assert doc["category"][0]["coding"][0]["code"] == "clinical-note"
    assert doc["subject"] == {"reference": "Patient/p-1"}
    assert doc["meta"]["security"][0]["code"] == "AIAST"
    attachment = doc["content"][0]["attachment"]
    raw = base64.b64decode(attachment["data"])
    assert raw.decode("utf-8") == TEXT
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(TEXT.encode("utf-8")).digest()).decode()
    assert attachment["contentType"] == "text/plain; charset=utf-8"
    assert attachment["language"] == "de"
    assert attachment["size"] == len(TEXT.encode("utf-8"))
    assert doc["context"]["related"] == [{"reference": "Procedure/course-1"}, {"reference": "Condition/dx-1"}]


def test_every_urn_reference_points_at_an_entry_and_the_device_authors_everything() -> None:
    bundle = build()
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    urns = [ref for ref in _references(bundle) if ref.startswith("urn:uuid:")]
    assert urns and set(urns) <= full_urls
    found = resources(bundle)
    device_url = bundle["entry"][0]["fullUrl"]
    doc_url = bundle["entry"][1]["fullUrl"]
    assert found["DocumentReference"]["author"] == [{"reference": device_url}]
    assert found["Provenance"]["agent"][0]["who"] == {"reference": device_url}
    assert found["Provenance"]["agent"][0]["type"]["coding"][0]["code"] == "author"
    assert found["Provenance"]["target"] == [{"reference": doc_url}]
    assert found["Task"]["focus"] == {"reference": doc_url}
    assert found["Task"]["requester"] == {"reference": device_url}


def test_provenance_lists_each_input_version_once_as_derivation() -> None:
    entities = resources(build())["Provenance"]["entity"]
    assert [e["what"]["reference"] for e in entities] == [
        "Procedure/course-1/_history/7",
        "Patient/p-1/_history/3",
        "Condition/dx-1/_history/1",
    ]
    assert {e["role"] for e in entities} == {"derivation"}


def test_task_is_an_approval_request_for_the_patient_owned_by_the_responsible_physician() -> None:
    task = resources(build(responsible="Practitioner/chief"))["Task"]
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/CodeSystem/task-code",
        "code": "approve",
        "display": "Activate/approve",
    }
    assert task["for"] == {"reference": "Patient/p-1"}
    assert task["owner"] == {"reference": "Practitioner/chief"}


def test_task_owner_falls_back_to_the_treating_physician_then_to_none() -> None:
    assert resources(build())["Task"]["owner"] == {"reference": "Practitioner/dr-1"}
    no_physician = make_case(treating_physician=None)
    assert "owner" not in resources(build(no_physician))["Task"]


def test_device_names_base_model_and_adapter_version() -> None:
    device = resources(build())["Device"]
    assert device["type"]["coding"][0]["code"] == "Artificial-Intelligence"
    assert device["deviceName"] == [{"name": "Meta-Llama-3-8B-Instruct", "type": "model-name"}]
    assert device["version"] == [{"value": "rt-qlora-0.3"}]


def test_same_inputs_give_the_same_bundle_and_a_redraft_gets_new_identifiers() -> None:
    first, again = build(), build()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    redraft = build(draft_version=2)
    ids = {e["resource"]["resourceType"]: e["request"]["ifNoneExist"] for e in first["entry"]}
    redraft_ids = {e["resource"]["resourceType"]: e["request"]["ifNoneExist"] for e in redraft["entry"]}
    assert ids["Device"] == redraft_ids["Device"]  # one Device per model + adapter, shared
    for kind in ("DocumentReference", "Provenance", "Task"):
        assert ids[kind] != redraft_ids[kind]
    other_case = build(make_case(case_id="fhir:course-2"))
    assert other_case["entry"][1]["request"]["ifNoneExist"] != ids["DocumentReference"]
    assert draft_ids("fhir:course-1") == draft_ids("fhir:course-1", 1) != draft_ids("fhir:course-1", 2)


def test_document_type_is_configurable() -> None:
    doc = resources(build(doc_type=DOC_TYPES["18842-5"]))["DocumentReference"]
    assert doc["type"]["coding"][0]["code"] == "18842-5"


def test_patient_reference_comes_from_inputs_when_the_patient_has_no_source() -> None:
    case = make_case(patient=Patient(id="MRN-4711"))
    assert resources(build(case))["DocumentReference"]["subject"] == {"reference": "Patient/p-1"}


def test_missing_patient_reference_is_a_missing_element_without_phi() -> None:
    case = make_case(patient=Patient(id="MRN-4711", family="Muster"), inputs=["Procedure/course-1/_history/7"])
    with pytest.raises(MissingElement) as info:
        build(case)
    assert info.value.where == "Patient.source"
    assert "MRN-4711" not in str(info.value) and "Muster" not in str(info.value)


def test_naive_clock_and_empty_text_are_invalid() -> None:
    with pytest.raises(InvalidValue):
        build(now=datetime(2026, 3, 2, 14, 30))
    with pytest.raises(InvalidValue):
        draft_transaction(
            make_case(), "  \n", model_name="m", adapter_version="a", language="de", responsible=None, now=NOW
        )


def test_invalid_resource_is_reported_without_quoting_values() -> None:
    with pytest.raises(InvalidValue) as info:
        build(language="de  Muster")  # a FHIR code has no double spaces
    assert "Muster" not in str(info.value)


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_the_task_carries_the_draft_check_and_the_document_says_so() -> None:
    from rtletter.mappers.draft_gate import DraftCheck

    bundle = build(check=DraftCheck(findings=2, contradicted=1, truncated=True, omitted=3))
    Bundle.model_validate(bundle)
    task, document = resources(bundle)["Task"], resources(bundle)["DocumentReference"]
    inputs = {i["type"]["text"]: i.get("valueInteger", i.get("valueBoolean")) for i in task["input"]}
    assert inputs == {
        "fact-check findings": 2,
        "fact-check findings contradicting the source": 1,
        "draft truncated at the token limit": True,
        "key facts of the course not stated in the draft": 3,
    }
    assert "fact-check findings: 2 (1 contradicted); key facts not stated: 3; truncated: yes" in document["description"]
    assert "input" not in resources(build())["Task"]  # no check, no claim about it
