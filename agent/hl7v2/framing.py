"""MLLP framing (HL7 v2 Implementation Guide, Appendix C, Minimal Lower Layer Protocol release 2).

A frame is ``<VT 0x0B> message <FS 0x1C><CR 0x0D>``. TCP delivers bytes, not frames: one read may hold half a
frame, or the end of one and the start of the next, or several frames at once. ``MllpDecoder`` keeps the state
between reads and returns every complete frame as soon as its end block arrives.

Bytes outside a frame (line noise, a sender's keep-alive newline) are skipped and counted. A frame larger than the
per-connection limit is not buffered: its first ``max_message_bytes`` are kept (enough to read the header and
answer it) and the rest is dropped until its end block, so one sender cannot make the listener hold unbounded
memory. A start block inside a frame means the sender gave up on the frame before: that partial frame is dropped
(it was never acknowledged, so the sender sends it again).

The framing bytes and ``frame`` come from ``rtletter.mappers.hl7v2.framing`` (one definition for the parser, file
input, the listener and the client); this module adds the stream state.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtletter.mappers.hl7v2.framing import CR, END, START, frame

__all__ = ["CR", "END", "START", "Frame", "MllpDecoder", "frame"]


@dataclass(frozen=True)
class Frame:
    """One received frame: the message bytes (its head only when ``oversized``) and its full size."""

    data: bytes
    size: int
    oversized: bool = False


class MllpDecoder:
    """Incremental MLLP decoder for one connection. ``feed(bytes)`` -> the frames completed by these bytes."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._size = 0  # bytes of the current frame seen so far (also those dropped beyond the limit)
        self._drop_cr = False  # the last read ended right after FS: a CR starting the next read belongs to it
        self.skipped = 0  # bytes outside any frame
        self.abandoned = 0  # frames cut off by a new start block

    @property
    def in_frame(self) -> bool:
        """A start block was seen and its end block not yet."""
        return self._in_frame

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held now."""
        return len(self._buffer)

    def reset(self) -> None:
        """Drop an unfinished frame (the connection is closing) and give its memory back."""
        self._buffer = bytearray()
        self._in_frame = False
        self._size = 0

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        view = memoryview(data)
        position = 0
        if self._drop_cr and data[:1] == CR:
            position = 1
        self._drop_cr = False
        length = len(data)
        while position < length:
            if not self._in_frame:
                start = data.find(START, position)
                if start < 0:
                    self.skipped += length - position
                    break
                self.skipped += start - position
                self._in_frame = True
                self._size = 0
                position = start + 1
                continue
            end = data.find(END, position)
            restart = data.find(START, position, end if end >= 0 else length)
            if restart >= 0:  # a new frame began before this one ended
                self.abandoned += 1
                self._buffer.clear()
                self._size = 0
                position = restart + 1
                continue
            stop = end if end >= 0 else length
            self._append(view[position:stop])
            if end < 0:
                break
            frames.append(Frame(bytes(self._buffer), self._size, self._size > self.max_message_bytes))
            self._buffer.clear()
            self._in_frame = False
            position = end + 1
            if position < length and data[position : position + 1] == CR:
                position += 1
            elif position == length:
                self._drop_cr = True
        return frames

    def _append(self, chunk: memoryview) -> None:
        self._size += len(chunk)
        room = self.max_message_bytes - len(self._buffer)
        if room > 0:
            self._buffer += chunk[:room]
