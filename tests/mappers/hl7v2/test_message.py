"""HL7 v2 message layer: framing, character sets, segment ends, batches, escapes, versions, hostile input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rtletter.mappers.errors import InvalidValue, MappingError, MissingElement, UnsupportedInput
from rtletter.mappers.hl7v2.message import (
    EncodingCharacters,
    codec_for,
    decode,
    escape,
    parse,
    parser_version,
    split_batch,
    unescape,
)

CHARS = EncodingCharacters()
# A minimal ORU with a German name; {charset} goes into MSH-18.
MESSAGE = (
    "MSH|^~\\&|RIS|KLINIK|||20260402100000||ORU^R01^ORU_R01|CTRL-1|P|2.5.1|||||DEU|{charset}\r"
    "PID|1||4711^^^^MR||Weiß-Müller^Jürgen^^^^^L||19560312|M\r"
    "PV1|1|O|||||||||||||||||V-99\r"
)


def message(charset: str = "") -> str:
    return MESSAGE.format(charset=charset)


def test_parse_reads_msh_and_segments() -> None:
    parsed = parse(message("UNICODE UTF-8").encode("utf-8"))
    assert parsed.message_type == "ORU^R01"
    assert parsed.control_id == "CTRL-1"
    assert parsed.version == "2.5.1"
    assert parsed.charset == "utf-8"
    assert [s.name for s in parsed.segments] == ["MSH", "PID", "PV1"]
    pid = parsed.first("PID")
    assert pid is not None
    assert pid.get(5) == "Weiß-Müller"
    assert pid.get(5, 2) == "Jürgen"
    assert pid.get(3, 5) == "MR"
    assert pid.where(7) == "PID-7"


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_segment_ends_cr_lf_crlf_are_equivalent(ending: str) -> None:
    data = message("UNICODE UTF-8").replace("\r", ending).encode("utf-8")
    parsed = parse(data)
    assert [s.name for s in parsed.segments] == ["MSH", "PID", "PV1"]
    assert parsed.first("PV1").get(19) == "V-99"  # type: ignore[union-attr]


def test_mllp_framing_and_bom_are_stripped() -> None:
    framed = b"\x0b" + b"\xef\xbb\xbf" + message().encode("utf-8") + b"\x1c\r"
    parsed = parse(framed)
    assert parsed.first("PID").get(5) == "Weiß-Müller"  # type: ignore[union-attr]
    assert parsed.charset == "utf-8"


def test_mllp_start_without_end_is_a_truncated_message() -> None:
    with pytest.raises(InvalidValue, match="truncated"):
        parse(b"\x0b" + message().encode("utf-8")[:60])


def test_msh18_latin1_decodes_latin1_bytes() -> None:
    data = message("8859/1").encode("latin-1")
    assert "ß".encode("latin-1") in data
    parsed = parse(data)
    assert parsed.charset == "latin-1"
    assert parsed.first("PID").get(5) == "Weiß-Müller"  # type: ignore[union-attr]


def test_latin1_without_msh18_needs_the_profile_default() -> None:
    data = message().encode("latin-1")
    with pytest.raises(InvalidValue) as caught:
        parse(data)  # default utf-8: the ß byte is not UTF-8
    assert caught.value.where == "MSH-18"
    assert "Weiß" not in str(caught.value)
    parsed = parse(data, default_encoding="8859/1")
    assert parsed.first("PID").get(5, 2) == "Jürgen"  # type: ignore[union-attr]


def test_latin1_bytes_claimed_as_utf8_is_a_clear_error() -> None:
    data = message("UNICODE UTF-8").encode("latin-1")
    with pytest.raises(InvalidValue, match="not valid utf-8") as caught:
        parse(data, default_encoding="latin-1")  # MSH-18 wins over the default
    assert caught.value.segment == "MSH"
    assert caught.value.field == "18"


def test_ascii_charset_and_unknown_charset() -> None:
    assert parse(message("ASCII").replace("ß", "ss").replace("ü", "ue").encode("ascii")).charset == "ascii"
    with pytest.raises(UnsupportedInput) as caught:
        parse(message("ISO IR87").encode("utf-8"))
    assert caught.value.where == "MSH-18"


def test_codec_for_names() -> None:
    assert codec_for("8859/1") == "latin-1"
    assert codec_for("latin-1") == "latin-1"
    assert codec_for("ISO-8859-1") == "latin-1"
    assert codec_for("UNICODE UTF-8") == "utf-8"
    assert codec_for("utf8") == "utf-8"


def test_text_input_is_taken_as_is() -> None:
    parsed = parse("\ufeff" + message("8859/1").replace("\r", "\n"))
    assert parsed.first("PID").get(5) == "Weiß-Müller"  # type: ignore[union-attr]


def test_escape_sequences_are_decoded() -> None:
    raw = "A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F\\.br\\G\\X0A\\H\\H\\bold\\N\\I\\X4C6174\\"
    assert unescape(raw, CHARS) == "A|B^C&D~E\\F\nG\nHboldILat"


def test_unescape_hex_uses_the_message_charset() -> None:
    assert unescape("Gr\\XC3B6\\\\XC39F\\e", CHARS, "utf-8") == "Größe"
    assert unescape("Gr\\XF6\\\\XDF\\e", CHARS, "latin-1") == "Größe"


def test_unescape_keeps_unknown_and_unterminated_sequences() -> None:
    assert unescape("a\\Q\\b", CHARS) == "a\\Q\\b"
    assert unescape("C:\\temp", CHARS) == "C:\\temp"


def test_escape_round_trips() -> None:
    text = "a|b^c&d~e\\f\ng\rh \\.br\\ literal"
    escaped = escape(text)
    assert "|" not in escaped and "^" not in escaped and "\n" not in escaped and "\r" not in escaped
    assert unescape(escaped, CHARS) == text


def test_escapes_inside_a_parsed_field() -> None:
    data = message().replace("Weiß-Müller", "M\\F\\ller \\T\\ S\\E\\hne").encode("utf-8")
    assert parse(data).first("PID").get(5) == "M|ller & S\\hne"  # type: ignore[union-attr]


def test_repetitions_are_kept_in_order() -> None:
    data = message().replace("4711^^^^MR", "123^^^^PI~4711^^^^MR~999^^^^SS").encode("utf-8")
    pid = parse(data).first("PID")
    assert pid is not None
    assert [rep[0][0] for rep in pid.repetitions(3)] == ["123", "4711", "999"]
    assert pid.get(3, 1, repetition=1) == "4711"


@pytest.mark.parametrize(
    ("sent", "parsed_as"),
    [("2.3", "2.3"), ("2.4.1", "2.4"), ("2.5.1", "2.5.1"), ("2.8.2", "2.8.2"), ("2.9", "2.8.2"), ("2.8.9", "2.8.2")],
)
def test_versions_map_to_the_nearest_known(sent: str, parsed_as: str) -> None:
    assert parser_version(sent) == parsed_as
    parsed = parse(message().replace("|2.5.1|", f"|{sent}|").encode("utf-8"))
    assert parsed.version == sent
    assert parsed.parser_version == parsed_as


@pytest.mark.parametrize("version", ["2.2", "abc", "3.0.x"])
def test_unsupported_versions(version: str) -> None:
    with pytest.raises(UnsupportedInput) as caught:
        parse(message().replace("|2.5.1|", f"|{version}|").encode("utf-8"))
    assert caught.value.where == "MSH-12"


def test_unknown_segments_of_a_newer_version_are_dropped_before_hl7apy() -> None:
    data = message().replace("PV1|", "PRT|1|AD||AD\rZXY|anything\rPV1|").encode("utf-8")
    parsed = parse(data)
    assert [s.name for s in parsed.segments] == ["MSH", "PID", "PV1"]
    everything = parse(message().encode("utf-8"), keep=None)
    assert [s.name for s in everything.segments] == ["MSH", "PID", "PV1"]


@pytest.mark.parametrize(
    ("data", "error", "where"),
    [
        (b"", UnsupportedInput, "MSH"),
        (b"PID|1||4711\r", UnsupportedInput, "MSH"),
        (b"MSH|^~\\&|A|B\r", MissingElement, "MSH-12"),  # truncated inside MSH
        (b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|1|P|", MissingElement, "MSH-12"),
        (b"MSH|^~\\&|A|B|C|D|2026||||P|2.5.1\r", MissingElement, "MSH-9"),
        (b"MSH|^~|A\r", MissingElement, "MSH-2"),
        (b"BHS|^~\\&|A\rMSH|^~\\&\r", UnsupportedInput, "BHS"),
    ],
)
def test_malformed_messages(data: bytes, error: type[MappingError], where: str) -> None:
    with pytest.raises(error) as caught:
        parse(data)
    assert caught.value.where == where


def test_binary_garbage_is_refused() -> None:
    garbage = bytes(range(256)) * 4
    with pytest.raises(UnsupportedInput, match="binary"):
        parse(garbage)
    with pytest.raises(MappingError):
        parse(random.Random(7).randbytes(2048).replace(b"\x00", b"\x01"))
    corrupted = message().encode("utf-8") + b"\x8f\x02\x03garbage|||\r"
    with pytest.raises(InvalidValue):
        parse(corrupted, default_encoding="latin-1")


def test_decode_reports_offset_not_content() -> None:
    with pytest.raises(InvalidValue) as caught:
        decode(message("UNICODE UTF-8").encode("latin-1"))
    text = str(caught.value)
    assert "offset" in text
    assert "Wei" not in text and "4711" not in text


# --- batches --------------------------------------------------------------------------------------------------------


def test_split_batch_of_the_python_hl7_sample(external_dir: Path) -> None:
    messages = split_batch((external_dir / "hl7v2" / "python-hl7-sample_batch-ADT_A04.hl7").read_bytes())
    assert len(messages) == 1
    assert messages[0].startswith(b"MSH|^~\\&||ABCHS")
    assert messages[0].endswith(b"PV1|1|O||||^^^^^1\r")
    assert b"BTS" not in messages[0] and b"BHS" not in messages[0]


def test_split_batch_with_file_header_two_messages_and_lf() -> None:
    one = message("8859/1").replace("CTRL-1", "M1")
    two = message("8859/1").replace("CTRL-1", "M2")
    batch = f"FHS|^~\\&|RIS\nBHS|^~\\&|RIS\n{one}{two}BTS|2\nFTS|1\n".replace("\r", "\n").encode("latin-1")
    messages = split_batch(batch)
    assert [parse(m).control_id for m in messages] == ["M1", "M2"]
    assert all("ß".encode("latin-1") in m for m in messages)


def test_split_batch_text_is_encoded_per_msh18() -> None:
    batch = "BHS|^~\\&\r" + message("8859/1") + "BTS|1\r"
    (only,) = split_batch(batch)
    assert "Weiß".encode("latin-1") in only
    assert parse(only).first("PID").get(5) == "Weiß-Müller"  # type: ignore[union-attr]


def test_split_batch_single_message_and_count_mismatch() -> None:
    assert len(split_batch(message().encode("utf-8"))) == 1
    with pytest.raises(InvalidValue) as caught:
        split_batch(("BHS|^~\\&\r" + message() + "BTS|3\r").encode("utf-8"))
    assert caught.value.where == "BTS-1"
    with pytest.raises(UnsupportedInput):
        split_batch(b"garbage")
