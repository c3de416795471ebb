"""The signed letter as MDM (TXA-17 AU): strict hl7apy validation, authenticator and time in TXA-22, final OBX,
a control id of its own, the event per site config."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rtletter.mappers.case import Physician
from rtletter.mappers.errors import InvalidValue, UnsupportedInput
from rtletter.mappers.hl7v2.documents import document_from_v2
from rtletter.mappers.hl7v2.mdm import control_id, document_id, mdm_cancel, mdm_from_draft
from tests.factories import breast_boost_case

SIGNED_AT = datetime(2026, 5, 2, 9, 5, tzinfo=UTC)
TEXT = "Sehr geehrte Frau Kollegin,\n\nRadiotherapie abgeschlossen, 50 Gy.\nMit freundlichen Grüßen"
SIGNER = Physician(id="dr-7", family="Strahl", given="Sabine", prefix="Dr. med.")


def segments(data: bytes) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|") for line in data.decode("utf-8").split("\r") if line}


@pytest.mark.parametrize("event", ["T02", "T04", "T08"])
def test_signed_mdm_is_valid_and_authenticated(event: str) -> None:
    case = breast_boost_case()
    data = mdm_from_draft(
        case, TEXT, now=SIGNED_AT, completion_status="AU", authenticator=SIGNER, event=event, encoding="utf-8"
    )
    parsed = parse_message(data.decode("utf-8"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    found = segments(data)
    assert found["MSH"][8] == f"MDM^{event}^MDM_T02" and found["EVN"][1] == event
    assert found["TXA"][17] == "AU" and found["TXA"][19] == "AV"
    ppn = found["TXA"][22].split("^")
    assert ppn[:3] == ["dr-7", "Strahl", "Sabine"] and ppn[14] == "20260502090500+0000"
    assert {s.split("|")[11] for s in data.decode().split("\r") if s.startswith("OBX")} == {"F"}
    assert found["TXA"][12].split("^")[0] == document_id(case)  # same document as the draft
    assert found["MSH"][9] == control_id(case, 1, "AU") != control_id(case)  # not a resend of the draft
    document = document_from_v2(data)
    assert document is not None and document.status == "AU"
    assert document.text == "\n".join(line for line in TEXT.split("\n") if line)


def test_signed_mdm_needs_an_authenticator_and_a_content_event() -> None:
    case = breast_boost_case()
    with pytest.raises(InvalidValue) as info:
        mdm_from_draft(case, TEXT, now=SIGNED_AT, completion_status="AU")
    assert (info.value.segment, info.value.field) == ("TXA", "22")
    with pytest.raises(UnsupportedInput):
        mdm_from_draft(case, TEXT, now=SIGNED_AT, completion_status="AU", authenticator=SIGNER, event="T03")


def test_rejected_draft_is_cancelled_with_t11() -> None:
    case = breast_boost_case()
    data = mdm_cancel(case, now=SIGNED_AT, encoding="latin-1", receiving_application="KIS")
    text = data.decode("latin-1")
    parsed = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    found = {line.split("|")[0]: line.split("|") for line in text.split("\r") if line}
    assert found["MSH"][8] == "MDM^T11^MDM_T01" and found["EVN"][1] == "T11" and "OBX" not in found
    assert found["TXA"][12].split("^")[0] == document_id(case)  # the draft it withdraws
    assert found["TXA"][17] == "IP" and found["TXA"][19] == "CA"
    assert found["MSH"][9] == control_id(case, 1, "CA") not in {control_id(case), control_id(case, 1, "AU")}
    assert found["PID"][3].split("^")[0] == case.patient.id
