"""Context fetch against the real sandbox FHIR server: one batch brings the whole case, extension references
(volumes) included, and another patient's resources stay out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.context import ContextFetcher

pytestmark = pytest.mark.integration

FIXTURES = [
    "xrts-02-prostate-2p-1v",
    "xrts-04-breast-3p-3v",
    "xrts-05-brainmets-1p-1v-2c",
    "mcode-rt-course-summary-chest-wall-jenny-m",
]


def keys(bundle: dict) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}


def courses(bundle: dict) -> list[dict]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Procedure"
        and e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "1217123003"
    ]


@pytest.mark.parametrize("name", FIXTURES)
def test_context_fetch_brings_every_resource_of_the_case_in_one_round_trip(
    fhir_server: str, load_bundle, example_bundle, name: str
) -> None:  # type: ignore[no-untyped-def]
    source = example_bundle(name)
    load_bundle(source)
    other_patient = example_bundle(name)  # same shapes, another patient
    load_bundle(other_patient)
    with FhirClient(fhir_server) as client:
        course = client.read("Procedure", courses(source)[0]["id"])
        before = client.round_trips
        fetched = ContextFetcher(client).fetch_bundle(course)
        assert client.round_trips - before == 1
    assert fetched["type"] == "collection"
    assert keys(source) <= keys(fetched)
    assert not keys(other_patient) & keys(fetched)


def test_context_fetch_by_id_reads_the_course_first(fhir_server: str, load_bundle, example_bundle) -> None:  # type: ignore[no-untyped-def]
    source = example_bundle("xrts-03-prostate-1p-3v")
    load_bundle(source)
    with FhirClient(fhir_server) as client:
        fetched = ContextFetcher(client).fetch_bundle(courses(source)[0]["id"])
        assert client.round_trips == 2
    volumes = {k for k in keys(fetched) if k.startswith("BodyStructure/")}
    assert len(volumes) == 3  # held only inside mcode-radiotherapy-dose-delivered-to-volume extensions


def test_context_fetch_maps_to_the_same_case_as_the_whole_bundle(fhir_server: str, load_bundle, example_bundle) -> None:  # type: ignore[no-untyped-def]
    mapper = pytest.importorskip("rtletter.mappers.fhir.bundle", reason="case_from_bundle is being written")
    source = example_bundle("xrts-04-breast-3p-3v")
    load_bundle(source)
    course_id = courses(source)[0]["id"]
    expected = [c for c in mapper.case_from_bundle(source) if c.course.id == course_id]
    with FhirClient(fhir_server) as client:
        found = ContextFetcher(client).fetch_cases(course_id)
    assert len(found) == len(expected) == 1
    assert found[0].facts() == expected[0].facts()
    assert [v.name for v in found[0].course.volumes] == [v.name for v in expected[0].course.volumes]
    assert [p.name for p in found[0].course.phases] == [p.name for p in expected[0].course.phases]


# --- issue 13: what the letter needs from where real systems put it, with no extra round trip ------------------------

DATA = Path(__file__).resolve().parents[1] / "mappers" / "data"


def _own_input(name: str, *dropped: str) -> dict:
    data = json.loads((DATA / name).read_text())
    data["entry"] = [e for e in data["entry"] if e["resource"]["id"] not in dropped]
    return data


def test_prescribed_dose_comes_with_the_course_fetch(fhir_server: str, load_bundle, fresh_ids) -> None:  # type: ignore[no-untyped-def]
    source = fresh_ids(_own_input("fhir-stopped-prescribed.json"))
    load_bundle(source)
    with FhirClient(fhir_server) as client:
        (case,) = ContextFetcher(client).fetch_cases(courses(source)[0]["id"])
        assert client.round_trips <= 3
    (volume,) = case.course.volumes
    assert (volume.planned_total_dose_gy, volume.fractions_planned, volume.dose_per_fraction_gy) == (50.0, 25, 2.0)


@pytest.mark.parametrize(
    ("dropped", "family", "via"),
    [
        ((), "Zuweiser", "ServiceRequest.requester"),
        (("referral-1",), "Einweiser", "Encounter.participant"),
        (("referral-1", "enc-1"), "Teamarzt", "CareTeam.participant"),
    ],
)
def test_the_addressee_is_found_on_the_server(fhir_server: str, load_bundle, fresh_ids, dropped, family, via) -> None:  # type: ignore[no-untyped-def]
    source = fresh_ids(_own_input("fhir-recipient.json", *dropped))
    load_bundle(source)
    with FhirClient(fhir_server) as client:
        (case,) = ContextFetcher(client).fetch_cases(courses(source)[0]["id"])
        assert client.round_trips <= 3
    assert case.referring_physician is not None
    assert (case.referring_physician.family, case.referring_physician.via) == (family, via)
