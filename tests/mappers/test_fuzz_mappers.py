"""Fuzzing both mappers (issue 14): whatever the bytes, the answer is cases or a ``MappingError`` naming where, never
another exception (500 examples each, the same on every run)."""

from __future__ import annotations

import json

from hypothesis import given

from rtletter.mappers.errors import MappingError
from rtletter.mappers.fhir.bundle import case_from_bundle
from rtletter.mappers.hl7v2.case import case_from_v2
from rtletter.mappers.hl7v2.message import split_batch
from rtletter.mappers.hl7v2.profile import default_profile
from tests.mappers.fuzz_inputs import FUZZ, fhir_documents, v2_messages

PROFILE = default_profile().model_copy(update={"default_encoding": "latin-1"})


@FUZZ
@given(v2_messages())
def test_hl7v2_mapper_maps_or_names_the_problem(data: bytes) -> None:
    try:  # the MLLP channel's path: split a batch, map each message with the site profile
        for message in split_batch(data):
            case_from_v2(message, PROFILE)
    except MappingError as exc:
        assert str(exc)


@FUZZ
@given(fhir_documents())
def test_fhir_mapper_maps_or_names_the_problem(data: bytes) -> None:
    try:
        cases = case_from_bundle(data)
    except MappingError as exc:
        assert str(exc)
    else:
        assert cases


def test_a_null_in_an_observations_profiles_is_no_crash() -> None:
    """Found by bench/fuzz.py: fhir.resources accepts ``"profile": [null]``; the toxicity check called ``.lower()``."""
    from tests.mappers.fuzz_inputs import seed_bundle

    bundle = json.loads(json.dumps(seed_bundle()))
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    for observation in observations:
        observation["meta"] = {"profile": [None]}
    assert case_from_bundle(json.dumps(bundle).encode())  # mapped as before: a null profile says nothing
