"""case_from_bundle: input forms, bundle types, and unusable or hostile input (error class, where, no PHI)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rtletter.mappers.errors import InvalidValue, MappingError, MissingElement, UnsupportedInput
from rtletter.mappers.fhir.bundle import case_from_bundle

# Values of the XRTS-01 patient that must never reach an error message.
PHI = ["Joe", "Father-22B", "XRTS-01_22B", "1960-02-01", "Meadow", "555-555-5555"]


@pytest.fixture(scope="module")
def bundle(external_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((external_dir / "fhir" / "xrts-01-prostate-1p-1v.json").read_text())
    return data


def _resource(bundle: dict[str, Any], resource_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == resource_id)
    return found


SUMMARY = "RadiotherapyCourseSummary-XRTS-01-22B-01-Prostate-1P-1V"


def _fails(data: bytes | str | dict[str, Any], error: type[MappingError], resource: str, element: str) -> MappingError:
    with pytest.raises(error) as caught:
        case_from_bundle(data)
    exc = caught.value
    assert exc.resource == resource
    assert exc.element is not None and exc.element.startswith(element), exc.element
    message = str(exc)
    assert message.startswith(f"{resource}.{exc.element}")
    for value in PHI:
        assert value not in message
    assert len(message) < 300
    return exc


# --- input forms and bundle types ---------------------------------------------------------------------------------


def test_bytes_text_and_dict_give_the_same_case(bundle: dict[str, Any]) -> None:
    text = json.dumps(bundle)
    cases = [case_from_bundle(text), case_from_bundle(text.encode()), case_from_bundle(bundle)]
    assert cases[0] == cases[1] == cases[2]


@pytest.mark.parametrize("kind", ["searchset", "transaction", "document", "batch-response", "history"])
def test_other_bundle_types_map(bundle: dict[str, Any], kind: str) -> None:
    data = copy.deepcopy(bundle)
    data["type"] = kind
    if kind == "transaction":
        for entry in data["entry"]:
            resource = entry["resource"]
            entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    (case,) = case_from_bundle(data)
    assert case.course.volumes[0].total_dose_gy == 4.0


def test_older_uscrs_code_and_profile_only_are_course_summaries(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    summary = _resource(data, SUMMARY)
    summary["code"] = {
        "coding": [
            {"system": "http://hl7.org/fhir/us/mcode/CodeSystem/mcode-resource-identifier-cs", "code": "USCRS-33529"}
        ]
    }
    assert len(case_from_bundle(data)) == 1
    del summary["code"]
    assert len(case_from_bundle(data)) == 1  # meta.profile says course summary


def test_dose_unit_is_read_from_unit_or_code(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    summary = _resource(data, SUMMARY)
    dose = next(e for e in summary["extension"] if e["url"].endswith("dose-delivered-to-volume"))
    quantity = dose["extension"][1]["valueQuantity"]
    quantity.update(value=4, unit="Gy")
    del quantity["code"], quantity["system"]
    assert case_from_bundle(data)[0].course.volumes[0].total_dose_gy == 4.0
    del quantity["unit"]  # no unit at all: mCODE fixes totalDoseDelivered to cGy
    assert case_from_bundle(data)[0].course.volumes[0].total_dose_gy == 0.04


def test_stopped_course_keeps_status_reason_and_delivered_dose(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    summary = _resource(data, SUMMARY)
    summary["status"] = "stopped"
    summary["statusReason"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "407563006", "display": "Treatment not tolerated"}]
    }
    (case,) = case_from_bundle(data)
    assert case.course.status.value == "stopped"
    assert case.course.status_reason is not None and case.course.status_reason.code == "407563006"
    assert case.course.volumes[0].total_dose_gy == 4.0


# --- unusable input -----------------------------------------------------------------------------------------------


def test_invalid_json() -> None:
    _fails(b'{"resourceType": "Bundle", "entry": [}', UnsupportedInput, "Bundle", "line 1 column")


def test_truncated_json(bundle: dict[str, Any]) -> None:
    text = json.dumps(bundle)
    _fails(text[: len(text) // 2], UnsupportedInput, "Bundle", "line 1 column")


def test_binary_garbage() -> None:
    _fails(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)) * 8, InvalidValue, "Bundle", "byte")


def test_not_fhir() -> None:
    _fails('[{"name": "Joe Father-22B"}]', UnsupportedInput, "Bundle", "resourceType")


def test_a_patient_instead_of_a_bundle(bundle: dict[str, Any]) -> None:
    _fails(bundle["entry"][0]["resource"], UnsupportedInput, "Patient", "resourceType")


def test_bundle_without_course_summary(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != "Procedure"]
    _fails(data, UnsupportedInput, "Bundle", "entry")


def test_dose_value_of_the_wrong_type(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    summary = _resource(data, SUMMARY)
    dose = next(e for e in summary["extension"] if e["url"].endswith("dose-delivered-to-volume"))
    dose["extension"][1]["valueQuantity"]["value"] = "Joe Father-22B"
    exc = _fails(data, InvalidValue, "Procedure", "extension")
    assert exc.element is not None and exc.element.endswith("valueQuantity.value")


def test_birth_date_of_the_wrong_type(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    data["entry"][0]["resource"]["birthDate"] = "1960-02-31-Joe"
    _fails(data, InvalidValue, "Patient", "birthDate")


def test_dose_in_an_unknown_unit(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    summary = _resource(data, SUMMARY)
    dose = next(e for e in summary["extension"] if e["url"].endswith("dose-delivered-to-volume"))
    dose["extension"][1]["valueQuantity"]["code"] = "mg"
    _fails(data, InvalidValue, "Procedure", "extension")


def test_dangling_patient_reference(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != "Patient"]
    _fails(data, MissingElement, "Procedure", "subject")


def test_missing_required_element(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    del _resource(data, SUMMARY)["status"]
    _fails(data, MissingElement, "Procedure", "status")


def test_huge_string_field(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    data["entry"][0]["resource"]["name"][0]["family"] = "Father-22B" * 1_000_000  # 10 MB
    _fails(data, InvalidValue, "Patient", "name[0].family")


def test_deep_nesting_in_json_text() -> None:
    _fails(
        b'{"resourceType": "Bundle", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        InvalidValue,
        "Bundle",
        "(document)",
    )


def test_deep_nesting_of_extensions(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    nested: dict[str, Any] = {"url": "http://example.org/x", "valueString": "Joe"}
    for _ in range(200):
        nested = {"url": "http://example.org/x", "extension": [nested]}
    data["entry"][0]["resource"]["extension"] = [nested]
    _fails(data, InvalidValue, "Patient", "extension")


def test_unknown_element_is_named_without_its_key(bundle: dict[str, Any]) -> None:
    data = copy.deepcopy(bundle)
    data["entry"][0]["resource"]["Joe Father-22B"] = "x"
    exc = _fails(data, InvalidValue, "Patient", "(unknown element)")
    assert "Joe" not in (exc.element or "")
