"""A separate MLLP sender process for the integration tests (stdlib only: it shares no code with the listener).

Reads a JSON plan on stdin::

    {"host": "127.0.0.1", "port": 2575, "ca_file": null, "db": "/tmp/jobs.db",
     "sends": [{"hex": "...", "mode": "whole" | "split" | "coalesce", "expect_answer": true}, ...]}

``split`` writes the frame in 7-byte pieces with a pause between them; ``coalesce`` writes this frame and the
next ones marked ``coalesce`` in one write. After each answer it opens the job store file (``db``, SQLite, read
only) and looks for the message: whether the row was there when the ACK arrived. Prints one JSON line per answer:
``{"code": "AA", "control_id": "...", "text": "...", "stored": true, "status": "received"}``.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import ssl
import sys
import time

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def read_frame(sock: socket.socket, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(FS)
        if end >= 0:
            start = buffer.find(VT)
            frame = bytes(buffer[start + 1 : end])
            del buffer[: end + 2 if buffer[end + 1 : end + 2] == CR else end + 1]
            return frame
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data


def msa(ack: bytes) -> tuple[str, str, str]:
    lines = [line for line in ack.decode("latin-1").split("\r") if line]
    separator = lines[0][3]
    fields = next(line.split(separator) for line in lines if line.startswith("MSA"))
    err = next((line.split(separator) for line in lines if line.startswith("ERR")), None)
    text = err[8] if err is not None and len(err) > 8 else (fields[3] if len(fields) > 3 else "")
    return fields[1], fields[2] if len(fields) > 2 else "", text


def stored(db: str, payload: bytes) -> tuple[bool, str | None]:
    """Whether the message (or its kept head) is a committed row, seen from this other process."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT status FROM inbound WHERE payload = ? OR substr(?, 1, length(payload)) = payload "
            "ORDER BY id DESC LIMIT 1",
            (payload, payload),
        ).fetchone()
    finally:
        connection.close()
    return (row is not None, row[0] if row else None)


def main() -> int:
    plan = json.load(sys.stdin)
    raw = socket.create_connection((plan["host"], plan["port"]), timeout=20)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock: socket.socket = raw
    if plan.get("ca_file"):
        context = ssl.create_default_context(cafile=plan["ca_file"])
        sock = context.wrap_socket(raw, server_hostname=plan.get("server_hostname", "localhost"))
    buffer = bytearray()
    sends = plan["sends"]
    index = 0
    while index < len(sends):
        group = [sends[index]]
        if sends[index].get("mode") == "coalesce":
            while index + len(group) < len(sends) and sends[index + len(group)].get("mode") == "coalesce":
                group.append(sends[index + len(group)])
        payloads = [bytes.fromhex(item["hex"]) for item in group]
        frames = [VT + payload + FS + CR for payload in payloads]
        if group[0].get("mode") == "split":
            for start in range(0, len(frames[0]), 7):
                sock.sendall(frames[0][start : start + 7])
                time.sleep(0.001)
        else:
            sock.sendall(b"".join(frames))
        for item, payload in zip(group, payloads, strict=True):
            if not item.get("expect_answer", True):
                continue
            code, control_id, text = msa(read_frame(sock, buffer))
            found, status = stored(plan["db"], payload)
            print(json.dumps({"code": code, "control_id": control_id, "text": text, "stored": found, "status": status}))
            sys.stdout.flush()
        index += len(group)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
