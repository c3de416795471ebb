"""MLLP framing: split and coalesced reads, noise between frames, the size limit, abandoned frames."""

from __future__ import annotations

import random

import pytest

from rtletter.agent.hl7v2.framing import END, START, MllpDecoder, frame

MESSAGES = [
    b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5.1\rPID|1||X\r",
    b"MSH|^~\\&|A|B|C|D|20240101||ORU^R01|2|P|2.5.1\rOBX|1|TX|||line\r",
    b"MSH|^~\\&|A|B|C|D|20240101||ADT^A03|3|P|2.5.1\r",
]


def _decode_in_pieces(stream: bytes, cuts: list[int], limit: int = 1 << 20) -> list[bytes]:
    decoder = MllpDecoder(limit)
    out: list[bytes] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        out += [f.data for f in decoder.feed(stream[previous:cut])]
        previous = cut
    assert decoder.pending == 0
    return out


def test_one_frame_in_one_read() -> None:
    frames = MllpDecoder(1024).feed(frame(MESSAGES[0]))
    assert [f.data for f in frames] == [MESSAGES[0]]
    assert frames[0].size == len(MESSAGES[0]) and not frames[0].oversized


def test_coalesced_frames_in_one_read() -> None:
    stream = b"".join(frame(m) for m in MESSAGES)
    assert [f.data for f in MllpDecoder(1024).feed(stream)] == MESSAGES


def test_every_split_point_gives_the_same_frames() -> None:
    stream = b"".join(frame(m) for m in MESSAGES)
    for cut in range(1, len(stream)):
        assert _decode_in_pieces(stream, [cut]) == MESSAGES, cut


def test_byte_by_byte_and_random_chunks() -> None:
    stream = b"".join(frame(m) for m in MESSAGES * 5)
    assert _decode_in_pieces(stream, list(range(1, len(stream)))) == MESSAGES * 5
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 12))
        assert _decode_in_pieces(stream, cuts) == MESSAGES * 5


def test_end_block_split_from_its_carriage_return() -> None:
    decoder = MllpDecoder(1024)
    data = frame(MESSAGES[0])
    assert [f.data for f in decoder.feed(data[:-1])] == [MESSAGES[0]]  # ends right after FS
    assert [f.data for f in decoder.feed(b"\r" + frame(MESSAGES[1]))] == [MESSAGES[1]]
    assert decoder.skipped == 0  # the CR belonged to the end block, not noise


def test_noise_between_frames_is_skipped_and_counted() -> None:
    decoder = MllpDecoder(1024)
    frames = decoder.feed(b"\r\n" + frame(MESSAGES[0]) + b"garbage" + frame(MESSAGES[1]))
    assert [f.data for f in frames] == MESSAGES[:2]
    assert decoder.skipped == len(b"\r\n") + len(b"garbage")


def test_a_start_block_inside_a_frame_abandons_the_partial_frame() -> None:
    decoder = MllpDecoder(1024)
    frames = decoder.feed(START + b"MSH|^~\\&|half" + frame(MESSAGES[2]))
    assert [f.data for f in frames] == [MESSAGES[2]]
    assert decoder.abandoned == 1


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_oversized_frame_keeps_only_its_head_and_resynchronises(chunk: int) -> None:
    limit = 64
    big = MESSAGES[1] + b"OBX|2|TX|||" + b"x" * 1000 + b"\r"
    stream = frame(big) + frame(MESSAGES[0])
    decoder = MllpDecoder(limit)
    frames = []
    for start in range(0, len(stream), chunk):
        frames += decoder.feed(stream[start : start + chunk])
        assert decoder.pending <= limit  # memory per connection stays bounded
    assert len(frames) == 2
    assert frames[0].oversized and frames[0].size == len(big) and frames[0].data == big[:limit]
    assert not frames[1].oversized and frames[1].data == MESSAGES[0]


def test_frame_wraps_with_start_and_end_blocks() -> None:
    assert frame(b"MSH") == START + b"MSH" + END + b"\r"
