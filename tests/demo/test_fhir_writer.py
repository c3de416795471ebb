"""bundle_from_case -> case_from_bundle round trips with hand-built cases, and the written Bundle's conformance."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rtletter.demo.synth.fhir_writer import bundle_from_case
from rtletter.mappers.case import (
    Case,
    Coding,
    Course,
    Diagnosis,
    Patient,
    TargetVolume,
)
from rtletter.mappers.checks import MAX_TOTAL_DOSE_GY
from rtletter.mappers.fhir.bundle import case_from_bundle
from tests.factories import breast_boost_reirradiation_case, cervix_brachytherapy_case, rectum_stopped_for_toxicity_case

ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
SCT = "http://snomed.info/sct"


CASES = {
    "rectum-stopped": rectum_stopped_for_toxicity_case,
    "breast-boost-reirradiation": breast_boost_reirradiation_case,
    "cervix-brachytherapy": cervix_brachytherapy_case,
    "minimal": lambda: Case(case_id="x:1", patient=Patient(id="M1"), course=Course(id="c1")),
}


def essential(case: Case) -> dict[str, Any]:
    """Everything but where it came from (ids of the source, inputs, ``source``, ``via`` and recommendations' source
    references)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("source", "via", "recommendation_sources")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    data = case.model_dump(mode="json", exclude={"case_id", "source_kind", "inputs"})
    data["course"].pop("id")
    return strip(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_keeps_facts_and_fields(name: str) -> None:
    case = CASES[name]()
    back = case_from_bundle(bundle_from_case(case))
    assert len(back) == 1
    assert set(back[0].facts()) == set(case.facts())
    assert essential(back[0]) == essential(case)


@pytest.mark.parametrize("name", sorted(CASES))
def test_written_bundle_validates_and_is_deterministic(name: str) -> None:
    bundle = bundle_from_case(CASES[name]())
    assert Bundle.model_validate(bundle).type == "collection"
    assert json.dumps(bundle, sort_keys=True) == json.dumps(bundle_from_case(CASES[name]()), sort_keys=True)
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert len(ids) == len(set(ids))


def test_written_bundle_speaks_mcode_and_codexrt() -> None:
    bundle = bundle_from_case(rectum_stopped_for_toxicity_case())
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    summary = next(p for p in by_type["Procedure"] if p["code"]["coding"][0]["code"] == "1217123003")
    urls = {e["url"] for e in summary["extension"]}
    assert "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-radiotherapy-dose-delivered-to-volume" in urls
    assert "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-procedure-intent" in urls
    dose = next(e for e in summary["extension"] if e["url"].endswith("dose-delivered-to-volume"))
    assert [p["url"] for p in dose["extension"]][:3] == ["volume", "totalDoseDelivered", "fractionsDelivered"]
    assert dose["extension"][1]["valueQuantity"] == {
        "value": 4500,
        "unit": "cGy",
        "system": "http://unitsofmeasure.org",
        "code": "cGy",
    }
    assert summary["status"] == "stopped" and summary["statusReason"]["coding"][0]["code"] == "407563006"
    primary = by_type["Condition"][0]
    assert primary["code"]["coding"][0]["system"] == ICD10GM
    assert primary["meta"]["profile"] == [
        "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
    ]
    stage = next(o for o in by_type["Observation"] if "mcode-tnm-stage-group" in str(o.get("meta")))
    assert stage["focus"] == [{"reference": f"Condition/{primary['id']}"}]
    assert {
        r["code"]["coding"][0]["code"]
        for r in by_type["Observation"]
        if "meta" in r and "performance" in str(r["meta"])
    } == {"89247-1", "89243-0"}
    appointment = by_type["Appointment"][0]
    assert appointment["start"] == "2026-05-20T09:30:00+02:00"  # Europe/Berlin summer time
    assert "MRN-77" not in json.dumps([e["resource"]["id"] for e in bundle["entry"]])  # the MRN is not an id


def test_short_system_names_are_written_as_canonical_urls() -> None:
    case = rectum_stopped_for_toxicity_case(diagnoses=[Diagnosis(code=Coding(system="ICD-10-GM", code="C20"))])
    back = case_from_bundle(bundle_from_case(case))[0]
    assert back.diagnoses[0].code == Coding(system=ICD10GM, code="C20")


@settings(max_examples=25, deadline=None)
@given(
    per_fraction=st.decimals(min_value="0.5", max_value="25", places=2).map(float),
    fractions=st.integers(min_value=1, max_value=45),
)
def test_doses_survive_the_cgy_round_trip(per_fraction: float, fractions: int) -> None:
    total = round(per_fraction * fractions, 2)
    assume(total <= MAX_TOTAL_DOSE_GY)  # more to one volume is refused as implausible (tests/mappers/test_checks.py)
    volume = TargetVolume(
        name="PTV", total_dose_gy=total, dose_per_fraction_gy=per_fraction, fractions_delivered=fractions
    )
    case = Case(case_id="x:2", patient=Patient(id="M2"), course=Course(id="c2", volumes=[volume]))
    back = case_from_bundle(bundle_from_case(case))[0].course.volumes[0]
    assert (back.total_dose_gy, back.dose_per_fraction_gy, back.fractions_delivered) == (total, per_fraction, fractions)


@pytest.mark.parametrize("index", range(12))
def test_synthetic_cohort_cases_round_trip(index: int) -> None:
    from rtletter.demo.synth.generate import build_case  # the cohort is the writer's main user

    case, _plan = build_case(7, index, "de" if index % 2 else "en")
    back = case_from_bundle(json.dumps(bundle_from_case(case)))
    assert len(back) == 1
    assert set(back[0].facts()) == set(case.facts())
    assert essential(back[0]) == essential(addressed_as_read(case))


def addressed_as_read(case: Case) -> Case:
    """Without a referrer, the reader addresses the letter to the first general practitioner (Patient.
    generalPractitioner, the fourth place it looks), who is then no longer a copy."""
    if case.referring_physician is not None or not case.copies_to:
        return case
    return case.model_copy(update={"referring_physician": case.copies_to[0], "copies_to": case.copies_to[1:]})
