"""Reading MSH cheaply and answering: AA/AE/AR content, ERR location and code, enhanced mode, encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rtletter.agent.hl7v2.ack import AckError, build_ack, should_answer
from rtletter.agent.hl7v2.client import parse_ack
from rtletter.agent.hl7v2.header import HeaderError, read_header

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def message(msh: str = "", body: str = "PID|1||4711^^^^MR||Müller^Jörg\r", version: str = "2.5.1") -> bytes:
    header = msh or f"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ADT^A08^ADT_A01|CTRL-1|P|{version}"
    return (header + "\r" + body).encode("latin-1")


def segments(ack: bytes, codec: str = "latin-1") -> dict[str, list[str]]:
    lines = [line for line in ack.decode(codec).split("\r") if line]
    return {line[:3]: line.split("|") for line in lines}


def test_header_fields_are_read_without_a_parse() -> None:
    header = read_header(message(), "latin-1")
    assert (header.message_type, header.trigger_event, header.control_id) == ("ADT", "A08", "CTRL-1")
    assert (header.sending_application, header.receiving_facility, header.version) == ("OIS", "KH", "2.5.1")
    assert header.codec == "latin-1"  # MSH-18 empty: the configured default


def test_aa_answers_the_control_id_and_swaps_sender_and_receiver() -> None:
    header = read_header(message(), "latin-1")
    ack = build_ack(header, "A", now=NOW, control_id="ACK1")
    seg = segments(ack)
    assert seg["MSH"][2:6] == ["RTL", "KH", "OIS", "RADONC"]
    assert seg["MSH"][8] == "ACK^A08^ACK" and seg["MSH"][9] == "ACK1" and seg["MSH"][11] == "2.5.1"
    assert seg["MSA"][1:3] == ["AA", "CTRL-1"]
    assert "ERR" not in seg
    # a valid v2.5.1 ACK by hl7apy's strict rules
    parsed = parse_message(ack.decode("latin-1"), validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.validate()


@pytest.mark.parametrize(
    ("raw", "code", "location", "outcome"),
    [
        (b"EVN|A08\rPID|1\r", "100", ("MSH", None), "AR"),  # not an HL7 message: no MSH first
        (b"BHS|^~\\&|OIS\rMSH|^~\\&|A\rBTS|1\r", "200", ("BHS", None), "AR"),  # batches are refused
        (message("MSH|^~\\&|OIS|R|RTL|KH|2026||QRY^A19|C9|P|2.5.1"), "200", ("MSH", 9), "AR"),
        (message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C9|P|2.2"), "203", ("MSH", 12), "AR"),
        (message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08||P|2.5.1"), "101", ("MSH", 10), "AE"),
        (message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C9|P|2.5.1||||||KLINGON"), "103", ("MSH", 18), "AE"),
        (message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C9|P|2.5.1||||||UNICODE UTF-8"), "102", ("MSH", 18), "AR"),
        (message(body="PID|1\r\x01\x02garbage\r"), "100", ("", None), "AE"),
        (message(body="PID|1||\x00\r"), "102", ("MSH", None), "AE"),
    ],
)
def test_bad_messages_get_an_error_code_and_location(
    raw: bytes, code: str, location: tuple[str, int | None], outcome: str
) -> None:
    with pytest.raises(HeaderError) as caught:
        read_header(raw, "latin-1")
    error = caught.value
    assert error.code == code
    assert (error.segment, error.field) == location
    assert ("AR" if error.reject else "AE") == outcome
    ack = build_ack(error.header, "R" if error.reject else "E", error=AckError.from_header_error(error), now=NOW)
    seg = segments(ack)
    assert seg["MSA"][1] == outcome
    err = seg["ERR"]
    if len(err) > 2:  # v2.5 and newer: ERR-2 location, ERR-3 code, ERR-4 severity
        where, said, severity = err[2].split("^"), err[3].split("^"), err[4]
    else:  # older: ERR-1 segment^sequence^field^code&text&table
        where = err[1].split("^")
        said, severity = where[3].split("&"), "E"
    assert said[0] == code and said[2] == "HL70357"
    assert where[0] == location[0]
    if location[1] is not None:
        assert where[2] == str(location[1])
    assert severity == "E"
    assert "Müller" not in ack.decode("latin-1")  # the answer never quotes the message


def test_latin1_bytes_under_a_utf8_declaration_name_msh18() -> None:
    raw = message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C9|P|2.5.1||||||UNICODE UTF-8")
    with pytest.raises(HeaderError, match="not valid utf-8"):
        read_header(raw, "latin-1")
    assert read_header(raw.decode("latin-1").encode("utf-8"), "latin-1").codec == "utf-8"


def test_default_encoding_applies_only_when_msh18_is_empty() -> None:
    utf8 = message().decode("latin-1").encode("utf-8")
    with pytest.raises(HeaderError) as caught:
        read_header(message(), "utf-8")  # latin-1 bytes, default utf-8: refused, naming MSH-18
    assert caught.value.field == 18 and "default" in str(caught.value)
    assert read_header(utf8, "utf-8").codec == "utf-8"
    declared = message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C9|P|2.5.1||||||8859/1")
    assert read_header(declared, "utf-8").codec == "latin-1"


def test_byte_order_mark_means_utf8() -> None:
    raw = b"\xef\xbb\xbf" + message().decode("latin-1").encode("utf-8")
    assert read_header(raw, "latin-1").codec == "utf-8"


def test_older_versions_get_err1_newer_err2_to_8() -> None:
    old = read_header(message(version="2.3"), "latin-1")
    error = AckError(code="207", text="boom", field=None)
    seg = segments(build_ack(old, "E", error=error, now=NOW))
    assert seg["ERR"][1] == "MSH^1^^207&Application internal error&HL70357"
    assert len(seg["ERR"]) == 2
    new = read_header(message(), "latin-1")
    seg = segments(build_ack(new, "E", error=error, now=NOW))
    assert seg["ERR"][1] == "" and seg["ERR"][2] == "MSH^1" and seg["ERR"][8] == "boom"


def test_error_text_is_escaped_with_the_senders_separators() -> None:
    raw = message("MSH#*~\\&#OIS#R#RTL#KH#2026##ADT*A08#C1#P#2.5.1", body="PID#1\r")
    header = read_header(raw, "latin-1")
    assert header.separators == "#*~\\&" and header.trigger_event == "A08"
    ack = build_ack(header, "E", error=AckError(code="207", text="a#b*c"), now=NOW).decode("latin-1")
    assert ack.startswith("MSH#*~\\&#RTL#KH#OIS#R#")
    assert "a\\F\\b\\S\\c" in ack


def test_enhanced_mode_commit_codes_and_when_to_answer() -> None:
    def header_with(accept: str, application: str = "") -> bytes:
        return message(f"MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C1|P|2.5.1|||{accept}|{application}")

    always = read_header(header_with("AL", "NE"), "latin-1")
    seg = segments(build_ack(always, "A", now=NOW))
    assert seg["MSA"][1] == "CA"
    assert seg["MSH"][14:16] == ["NE", "NE"]  # the ACK itself asks for no acknowledgement
    assert segments(build_ack(always, "E", now=NOW))["MSA"][1] == "CE"
    assert segments(build_ack(always, "R", now=NOW))["MSA"][1] == "CR"
    assert should_answer(always, "A") and should_answer(always, "R")
    never = read_header(header_with("NE", "AL"), "latin-1")
    assert not should_answer(never, "A") and not should_answer(never, "E")
    errors_only = read_header(header_with("ER"), "latin-1")
    assert not should_answer(errors_only, "A") and should_answer(errors_only, "E")
    success_only = read_header(header_with("SU"), "latin-1")
    assert should_answer(success_only, "A") and not should_answer(success_only, "R")
    default = read_header(header_with("", "AL"), "latin-1")  # enhanced (MSH-16 valued), MSH-15 empty: AL
    assert should_answer(default, "A") and segments(build_ack(default, "A", now=NOW))["MSA"][1] == "CA"
    original = read_header(message(), "latin-1")
    assert should_answer(original, "A") and segments(build_ack(original, "A", now=NOW))["MSA"][1] == "AA"


def test_ack_keeps_the_senders_character_set() -> None:
    raw = message("MSH|^~\\&|OIS|R|RTL|KH|2026||ADT^A08|C1|P|2.5.1||||||8859/1")
    header = read_header(raw, "utf-8")
    seg = segments(build_ack(header, "E", error=AckError(code="207", text="Größe ungültig"), now=NOW))
    assert seg["MSH"][17] == "8859/1"
    assert seg["ERR"][8] == "Größe ungültig"  # encoded in latin-1 as MSH-18 says


def test_parse_ack_reads_msa_and_err_text() -> None:
    header = read_header(message(), "latin-1")
    parsed = parse_ack(build_ack(header, "R", error=AckError(code="200", text="no thanks", field=9), now=NOW))
    assert (parsed.code, parsed.control_id, parsed.text, parsed.accepted) == ("AR", "CTRL-1", "no thanks", False)
    assert parse_ack(build_ack(header, "A", now=NOW)).accepted
