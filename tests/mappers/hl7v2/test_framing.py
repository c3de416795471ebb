"""MLLP framing bytes and helpers (mappers/hl7v2/framing.py): frame, unframe, several frames in one capture."""

from __future__ import annotations

import pytest

from rtletter.mappers.errors import InvalidValue
from rtletter.mappers.hl7v2.framing import frame, split_frames, unframe, unframe_text

MESSAGE = b"MSH|^~\\&|RT|KLINIK\rPID|1||4711\r"


def test_frame_wraps_in_start_and_end_block() -> None:
    assert frame(MESSAGE) == b"\x0b" + MESSAGE + b"\x1c\r"


def test_unframe_strips_blocks_bom_and_whitespace() -> None:
    assert unframe(b"\n" + frame(b"\xef\xbb\xbf" + MESSAGE)) == MESSAGE.strip()
    assert unframe(MESSAGE) == MESSAGE.strip()


def test_unframe_refuses_a_frame_without_end_block() -> None:
    with pytest.raises(InvalidValue, match="no end block"):
        unframe(b"\x0b" + MESSAGE)


def test_unframe_text_stops_at_the_end_block() -> None:
    assert unframe_text("\ufeff\x0b" + MESSAGE.decode() + "\x1c\r") == MESSAGE.decode()


def test_split_frames_returns_each_frame() -> None:
    assert split_frames(frame(MESSAGE) + b"\r\n" + frame(MESSAGE)) == [MESSAGE.strip()] * 2
    with pytest.raises(InvalidValue, match="start block"):
        split_frames(MESSAGE + b"\x1c\r")
