from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtletter.mappers.errors import InvalidValue, MappingError, UnsupportedInput
from rtletter.mappers.load import detect_kind, load_cases

NAME = "Erika Mustermann"  # a synthetic name that must never reach an error message


def _fhir_files(external_dir: Path) -> list[Path]:
    return sorted((external_dir / "fhir").glob("*.json"))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"resourceType": "Bundle"}', "fhir"),
        (b'\xef\xbb\xbf \r\n {"resourceType": "Bundle"}', "fhir"),
        (b"[]", "fhir"),
        (b"MSH|^~\\&|RT|", "hl7v2"),
        (b"\r\nFHS|^~\\&|", "hl7v2"),
        (b"BHS|^~\\&|", "hl7v2"),
        (b"\x0bMSH|^~\\&|\x1c\r", "mllp"),
    ],
)
def test_detect_kind_from_content(data: bytes, kind: str) -> None:
    assert detect_kind(data) == kind


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", UnsupportedInput, "empty input"),
        (b" \r\n\t", UnsupportedInput, "empty input"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", UnsupportedInput, "neither JSON nor HL7 v2"),
        (b"\x00\x01\x02\x03" * 10, UnsupportedInput, "neither JSON nor HL7 v2"),
        (f"PID|1||P1||{NAME}".encode(), UnsupportedInput, "neither JSON nor HL7 v2"),
        (f"<Bundle><name>{NAME}</name></Bundle>".encode(), UnsupportedInput, "neither JSON nor HL7 v2"),
        ('{"resourceType": "Bundle"}'.encode("utf-16"), InvalidValue, "UTF-16"),
        ('{"resourceType": "Bundle"}'.encode("utf-16-le"), InvalidValue, "UTF-16"),
    ],
)
def test_unsupported_input_says_what_was_expected_without_content(
    data: bytes, error: type[MappingError], words: str
) -> None:
    with pytest.raises(error) as caught:
        load_cases(data)
    message = str(caught.value)
    assert words in message and "expected a FHIR JSON Bundle or an HL7 v2 message" in message
    assert NAME not in message and "\n" not in message


def test_latin1_json_is_refused_as_not_utf8_naming_the_bundle() -> None:
    data = json.dumps({"resourceType": "Bundle", "note": f"{NAME} Größe"}, ensure_ascii=False).encode("latin-1")
    with pytest.raises(InvalidValue) as caught:
        load_cases(data)
    assert caught.value.resource == "Bundle"
    assert str(caught.value).startswith("Bundle: input is not valid UTF-8")
    assert NAME not in str(caught.value)


def test_input_over_the_limit_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidValue, match="more than the limit of 100"):
        load_cases(b"{" + b" " * 200 + b"}", max_bytes=100)


def test_truncated_mllp_frame_names_mllp() -> None:
    with pytest.raises(InvalidValue) as caught:
        load_cases(b"\x0bMSH|^~\\&|RT|||\rPID|1||P1||Mustermann^Erika")
    assert caught.value.segment == "MLLP" and "Mustermann" not in str(caught.value)


def test_external_fhir_bundles_map_to_cases(external_dir: Path) -> None:
    pytest.importorskip("rtletter.mappers.fhir.bundle")
    files = _fhir_files(external_dir)
    assert len(files) >= 9
    for path in files:
        data = path.read_bytes()
        cases = load_cases(data)
        assert cases, path.name
        assert all(c.source_kind == "fhir" for c in cases)
        # a UTF-8 byte order mark and leading blank lines change nothing
        with_bom = load_cases(b"\xef\xbb\xbf\n  " + data)
        assert [c.model_dump() for c in with_bom] == [c.model_dump() for c in cases]


def test_external_hl7v2_messages_map_to_cases(external_dir: Path) -> None:
    pytest.importorskip("rtletter.mappers.hl7v2.case")
    files = sorted(p for p in (external_dir / "hl7v2").iterdir() if p.suffix in (".hl7", ".txt"))
    assert len(files) >= 13
    for path in files:
        data = path.read_bytes()
        cases = load_cases(data)
        assert cases and all(c.source_kind == "hl7v2" for c in cases), path.name
        framed = load_cases(b"\x0b" + data.replace(b"\n", b"\r") + b"\x1c\r")  # on the wire: MLLP, CR
        assert [c.model_dump() for c in framed] == [c.model_dump() for c in cases], path.name


def test_fhir_json_that_is_not_a_bundle_names_the_resource() -> None:
    pytest.importorskip("rtletter.mappers.fhir.bundle")
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Mustermann", "given": ["Erika"]}]}
    with pytest.raises(MappingError) as caught:
        load_cases(json.dumps(patient).encode())
    assert "Patient" in str(caught.value) or caught.value.resource in ("Patient", "Bundle")
    assert "Mustermann" not in str(caught.value)


def _v2_message() -> bytes:
    """One synthetic patient's HL7 v2 message in the default profile (from the synthetic cohort)."""
    synth = pytest.importorskip("rtletter.demo.synth")
    pytest.importorskip("rtletter.mappers.hl7v2.case")
    if not hasattr(synth, "generate_cohort"):
        pytest.skip("rtletter.demo.synth.generate_cohort is not written yet")
    patient = synth.generate_cohort(1, seed=3, lang="de")[0]
    return bytes(patient.v2)


def test_hl7v2_is_mapped_plain_framed_and_with_crlf() -> None:
    message = _v2_message()
    cases = load_cases(message)
    assert len(cases) == 1 and cases[0].source_kind == "hl7v2"
    facts = {(f.kind, f.value) for f in cases[0].facts()}
    framed = load_cases(b"\x0b" + message + b"\x1c\r")
    crlf = load_cases(message.replace(b"\r", b"\r\n"))
    for other in (framed, crlf):
        assert {(f.kind, f.value) for f in other[0].facts()} == facts


def test_two_mllp_frames_and_a_batch_give_one_case_each() -> None:
    message = _v2_message()
    assert len(load_cases(b"\x0b" + message + b"\x1c\r\x0b" + message + b"\x1c\r")) == 2
    batch = b"BHS|^~\\&|RT\r" + message + message + b"BTS|2\r"
    assert len(load_cases(batch)) == 2
