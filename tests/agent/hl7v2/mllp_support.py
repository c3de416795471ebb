"""A plain-socket MLLP client and a small ADT message, for the listener tests (plain, hostile, fuzzed)."""

from __future__ import annotations

import socket

from rtletter.agent.hl7v2.client import Acknowledgement, parse_ack
from rtletter.agent.hl7v2.framing import MllpDecoder, frame


def msg(control_id: str, *, msh15: str = "", msh16: str = "", msh18: str = "", body: str = "") -> bytes:
    text = (
        f"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ADT^A08^ADT_A01|{control_id}|P|2.5.1|||{msh15}|{msh16}||{msh18}"
        f"\rPID|1||4711^^^^MR||Müller^Jörg\r{body}"
    )
    return text.encode("utf-8" if msh18 == "UNICODE UTF-8" else "latin-1")


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = MllpDecoder(1 << 20)
        self.pending: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ack(self) -> Acknowledgement:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.pending += [f.data for f in self.decoder.feed(data)]
        return parse_ack(self.pending.pop(0))

    def send(self, message: bytes) -> Acknowledgement:
        self.send_raw(frame(message))
        return self.ack()

    def close(self) -> None:
        self.sock.close()
