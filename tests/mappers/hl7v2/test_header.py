"""MSH read on its own (mappers/hl7v2/header.py): fields numbered as in the standard, the declared character set."""

from __future__ import annotations

from rtletter.mappers.hl7v2.header import declared_charset, first_segment, msh_field, msh_fields

MSH = "MSH|^~\\&|RT|KLINIK|KIS|HAUS|20260501||ORU^R01|42|P|2.5.1|||AL|NE||8859/1~UNICODE UTF-8|DE"


def test_msh_fields_are_numbered_like_the_standard() -> None:
    fields = msh_fields(MSH)
    assert (fields[1], fields[2], fields[9], fields[10], fields[12]) == ("|", "^~\\&", "ORU^R01", "42", "2.5.1")
    assert msh_field(fields, 19) == "DE" and msh_field(fields, 40) == ""


def test_msh_fields_use_the_senders_separator() -> None:
    assert msh_fields("MSH#^~\\&#RT")[1:4] == ["#", "^~\\&", "RT"]


def test_declared_charset_is_the_first_repetition_of_msh_18() -> None:
    assert declared_charset(MSH) == "8859/1"
    assert declared_charset("MSH|^~\\&|RT") is None


def test_first_segment_ends_at_cr_or_lf() -> None:
    assert first_segment(b"MSH|^~\\&\nPID|1\r") == b"MSH|^~\\&"
    assert first_segment(b"MSH|^~\\&") == b"MSH|^~\\&"
