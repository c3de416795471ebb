"""Code systems (mappers/codes.py): HL7 table 0396 names, short and versioned names -> canonical URLs, and back."""

from __future__ import annotations

import pytest

from rtletter.mappers.codes import canonical_system, v2_system_name

ICD10GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
OPS = "http://fhir.de/CodeSystem/bfarm/ops"
SNOMED = "http://snomed.info/sct"


def test_code_system_names() -> None:
    assert canonical_system("I10GM") == ICD10GM
    assert canonical_system("ICD10GM2024") == ICD10GM
    assert canonical_system("ICD-10-GM") == ICD10GM
    assert canonical_system("http://snomed.info/sct") == SNOMED
    assert canonical_system("99LOCAL") == "99LOCAL"
    assert v2_system_name("ICD-10-GM") == "ICD10GM"
    assert v2_system_name(OPS) == "O301"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("I10-2026", ICD10GM),
        ("ICD10GM", ICD10GM),
        ("ICD-10-GM", ICD10GM),
        ("ICD-10-GM-2025", ICD10GM),
        ("I10GM2024", ICD10GM),
        ("O-2026", OPS),
        ("OPS", OPS),
        ("O301", OPS),
        ("OPS 2024", OPS),
        ("SCT", SNOMED),
        ("SNM", SNOMED),
        ("SNOMED CT", SNOMED),
        ("I10", "http://hl7.org/fhir/sid/icd-10"),
        ("99RTL", "99RTL"),
    ],
)
def test_cwe3_names_map_to_canonical_urls(name: str, url: str) -> None:
    assert canonical_system(name) == url
