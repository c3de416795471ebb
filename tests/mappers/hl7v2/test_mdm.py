"""MDM^T02 from a draft: strict hl7apy validation, TXA-17 IP, text round trip through document_from_v2, ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rtletter.mappers.errors import InvalidValue, UnsupportedInput
from rtletter.mappers.fhir.writeback import draft_ids
from rtletter.mappers.hl7v2.documents import document_from_v2
from rtletter.mappers.hl7v2.mdm import control_id, document_id, mdm_from_draft
from tests.factories import breast_boost_case, stopped_chemo_case

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
TEXT = (
    "Sehr geehrte Frau Kollegin,\n\nwir berichten über Ihre Patientin (Größe | Dosis ^ 50 Gy & Boost ~ 16 Gy \\).\n"
    "Mit freundlichen Grüßen"
)


def _segments(data: bytes, codec: str) -> list[list[str]]:
    return [line.split("|") for line in data.decode(codec).split("\r") if line]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_mdm_validates_strictly_and_carries_the_draft(encoding: str) -> None:
    case = breast_boost_case()
    data = mdm_from_draft(case, TEXT, now=NOW, model="llama3-8b", adapter_version="a7", encoding=encoding)
    parsed = parse_message(data.decode(encoding), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    assert parsed.msh.msh_9.to_er7() == "MDM^T02^MDM_T02"
    segments = {s[0]: s for s in _segments(data, encoding)}
    assert segments["MSH"][17] == ("UNICODE UTF-8" if encoding == "utf-8" else "8859/1")
    assert segments["TXA"][17] == "IP"  # a draft: in progress, not signed
    assert segments["TXA"][19] == "UN"
    assert segments["TXA"][12].split("^")[0] == document_id(case)
    assert segments["TXA"][15] == case.course.id
    assert segments["EVN"][1] == "T02"
    assert segments["SFT"][2] == "llama3-8b" and segments["SFT"][4] == "a7"
    document = document_from_v2(data)
    assert document is not None and document.status == "IP" and document.document_type == "DS"
    assert document.unique_id == document_id(case)
    # the reader drops blank lines; everything else (escapes included) comes back
    assert document.text == "\n".join(line for line in TEXT.split("\n") if line)


def test_one_tx_obx_per_line_blank_lines_kept() -> None:
    data = mdm_from_draft(stopped_chemo_case(), TEXT, now=NOW)
    obx = [s for s in _segments(data, "utf-8") if s[0] == "OBX"]
    assert len(obx) == len(TEXT.split("\n"))
    assert all(s[2] == "TX" and s[11] == "P" and s[3].startswith("68602-2^") for s in obx)
    assert obx[1][5] == ""  # the blank line after the salutation
    assert "\\F\\" in obx[2][5] and "\\S\\" in obx[2][5] and "\\T\\" in obx[2][5] and "\\E\\" in obx[2][5]


def test_ids_are_deterministic_and_shared_with_the_fhir_write_back() -> None:
    case = breast_boost_case()
    first = mdm_from_draft(case, TEXT, now=NOW)
    assert first == mdm_from_draft(case, TEXT, now=NOW)  # a retried post sends the same bytes
    assert document_id(case) == draft_ids(case.case_id)["DocumentReference"]
    assert len(control_id(case)) <= 20 and control_id(case) in first.decode()
    assert control_id(case) != control_id(stopped_chemo_case())


def test_patient_and_physician_fields() -> None:
    case = breast_boost_case()
    segments = {s[0]: s for s in _segments(mdm_from_draft(case, TEXT, now=NOW), "utf-8")}
    assert segments["PID"][3] == f"{case.patient.id}^^^^MR"
    assert segments["PID"][5].split("^")[:2] == [case.patient.family, case.patient.given]
    assert case.treating_physician is not None
    assert segments["TXA"][5].split("^")[1] == case.treating_physician.family


def test_text_latin1_cannot_carry_names_the_field() -> None:
    with pytest.raises(InvalidValue, match="OBX-5"):
        mdm_from_draft(breast_boost_case(), "Dosis ≥ 50 Gy", now=NOW, encoding="latin-1")


def test_bad_inputs() -> None:
    case = breast_boost_case()
    with pytest.raises(InvalidValue, match="empty"):
        mdm_from_draft(case, "  \n", now=NOW)
    with pytest.raises(InvalidValue, match="timezone"):
        mdm_from_draft(case, TEXT, now=datetime(2026, 5, 1, 12, 30))
    with pytest.raises(UnsupportedInput):
        mdm_from_draft(case, TEXT, now=NOW, encoding="utf-16")


def test_the_draft_check_travels_as_a_remark_not_as_letter_text() -> None:
    from rtletter.mappers.draft_gate import DraftCheck

    case = breast_boost_case()
    check = DraftCheck(findings=3, contradicted=1, truncated=True, omitted=2)
    data = mdm_from_draft(case, TEXT, now=NOW, check=check)
    parsed = parse_message(data.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    (nte,) = [s for s in _segments(data, "utf-8") if s[0] == "NTE"]
    assert nte[3] == "fact-check findings: 3 (1 contradicted); key facts not stated: 2; truncated: yes"
    assert nte[4] == "RE"
    document = document_from_v2(data)
    assert document is not None and "fact-check" not in document.text
    plain = mdm_from_draft(case, TEXT, now=NOW)
    assert not [s for s in _segments(plain, "utf-8") if s[0] == "NTE"]
