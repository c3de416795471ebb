"""The MLLP listener against hostile and broken senders (issue 14): every frame answered and kept, no raw tracebacks,
bounded connections and memory. Real sockets on 127.0.0.1, a real SQLite job store."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator

import pytest
import structlog

from rtletter.agent.hl7v2 import listener as listener_module
from rtletter.agent.hl7v2.framing import START, frame
from rtletter.agent.hl7v2.listener import Limits, MllpListener
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import configure_logging
from tests.agent.hl7v2.mllp_support import Client, msg

NUL_IN_MSH18 = b"MSH|^~\\&|A|B|C|D|20250101||ORU^R01|NUL1|P|2.5.1||||||UTF-\x008\rPID|1||4711^^^^MR||M\xfcller\r"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield stream
    structlog.reset_defaults()


def wait_for(predicate: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def closed_by_peer(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    sock.settimeout(timeout_s)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_nul_in_msh18_is_answered_ae_and_quarantined_without_a_raw_traceback(
    store: JobStore, capfd: pytest.CaptureFixture[str], json_log: io.StringIO
) -> None:
    with MllpListener(store, port=0) as running:
        client = Client(running.port)
        answer = client.send(NUL_IN_MSH18)
        assert (answer.code, answer.control_id) == ("AE", "NUL1")
        assert b"|102^Data type error^HL70357|" in answer.raw and "NUL" in answer.text
        assert client.send(msg("NEXT")).code == "AA"  # the sender is not stuck on it: the connection goes on
        client.close()
    first = store.list_inbound()[0]
    assert first.payload == NUL_IN_MSH18 and first.status == Status.quarantined
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Unhandled exception" not in captured.err
    assert all(json.loads(line) for line in json_log.getvalue().splitlines())  # the log is JSON lines only


@pytest.mark.parametrize("charset", ["UNICODE UTF-16", "UTF-16", "UTF-32", "utf_16_le"])
def test_msh18_naming_a_wide_charset_is_rejected_with_an_ascii_ack(store: JobStore, charset: str) -> None:
    raw = msg("W16", msh18=charset)  # latin-1 bytes that say they are UTF-16
    with MllpListener(store, port=0) as running:
        client = Client(running.port)
        client.send_raw(frame(raw))
        data = b""
        while b"\x1c\r" not in data:
            data += client.sock.recv(65536)
        client.close()
    body = data[1 : data.index(b"\x1c")]
    assert not body.startswith((b"\xff\xfe", b"\xfe\xff")) and body.startswith(b"MSH|")
    text = body.decode("ascii")  # the sender reads it whatever it thought
    assert "|AR|W16|" in text and "MSH^1^18" in text and "UTF-16 and UTF-32 cannot be carried" in text
    row = store.list_inbound()[0]
    assert row.status == Status.quarantined and row.payload == raw


def test_an_exception_in_connection_code_goes_to_the_json_log_and_the_frame_is_still_answered(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], json_log: io.StringIO
) -> None:
    def broken(*args: object, **kwargs: object) -> None:  # fault injection: a bug in the header reader
        raise RuntimeError("Müller 1961-04-12")

    monkeypatch.setattr(listener_module, "read_header", broken)
    with MllpListener(store, port=0) as running:
        client = Client(running.port)
        answer = client.send(msg("BUG1"))
        client.close()
    assert answer.code == "AE" and b"|207^Application internal error^HL70357|" in answer.raw
    row = store.list_inbound()[0]
    assert row.status == Status.quarantined and row.payload == msg("BUG1")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    errors = [line for line in lines if line["event"] == "mllp header not read"]
    assert errors and errors[0]["error"] == "RuntimeError" and "detail" not in errors[0]
    log_text = json_log.getvalue() + capfd.readouterr().err
    assert "Müller" not in log_text and "1961" not in log_text and "Traceback" not in log_text


def test_connections_over_the_limit_are_refused_and_logged(store: JobStore, json_log: io.StringIO) -> None:
    with MllpListener(store, port=0, limits=Limits(max_connections=3)) as running:
        held = [Client(running.port) for _ in range(3)]
        assert wait_for(lambda: running.connections == 3)
        extra = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        assert closed_by_peer(extra)
        extra.close()
        assert running.refused == 1
        assert all(c.send(msg(f"H{i}")).code == "AA" for i, c in enumerate(held))  # those held still work
        held[0].close()
        assert wait_for(lambda: running.connections == 2)
        again = Client(running.port)  # a slot is free again
        assert again.send(msg("AGAIN")).code == "AA"
        for c in [*held[1:], again]:
            c.close()
    assert "mllp connection refused: too many connections" in json_log.getvalue()


def test_a_frame_not_finished_in_time_closes_the_connection(store: JobStore) -> None:
    with MllpListener(store, port=0, limits=Limits(frame_timeout_s=0.3)) as running:
        slow = Client(running.port)
        assert slow.send(msg("FIRST")).code == "AA"
        started = time.monotonic()
        slow.send_raw(START + msg("SLOW")[:20])  # one byte a while: the deadline counts from the start block
        for byte in msg("SLOW")[20:24]:
            time.sleep(0.05)
            slow.send_raw(bytes([byte]))
        assert closed_by_peer(slow.sock)
        assert 0.25 <= time.monotonic() - started < 3
        slow.close()
        assert running.timed_out == 1 and running.buffered == 0
    assert [r.meta["control_id"] for r in store.list_inbound()] == ["FIRST"]  # the partial frame was never acked


def test_silent_connections_close_but_idle_persistent_ones_stay(store: JobStore) -> None:
    with MllpListener(store, port=0, limits=Limits(silent_timeout_s=0.4)) as running:
        silent = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        noisy = socket.create_connection(("127.0.0.1", running.port), timeout=5)
        noisy.sendall(b"\r\n")  # bytes, but never a message
        persistent = Client(running.port)
        assert persistent.send(msg("P1")).code == "AA"
        assert closed_by_peer(silent) and closed_by_peer(noisy)
        time.sleep(0.6)  # idle between messages, longer than the silent timeout
        assert persistent.send(msg("P2")).code == "AA"
        for sock in (silent, noisy, persistent.sock):
            sock.close()
        assert running.timed_out == 2


def test_the_buffer_budget_closes_the_biggest_holders_and_normal_traffic_goes_on(store: JobStore) -> None:
    limits = Limits(max_buffered_bytes=150_000)
    with MllpListener(store, port=0, max_message_bytes=100_000, limits=limits) as running:
        hogs = [Client(running.port) for _ in range(4)]
        for hog in hogs:
            hog.send_raw(START + b"MSH|" + b"x" * 60_000)  # 4 x 60 kB unfinished: over the budget
        assert wait_for(lambda: running.shed >= 2)
        assert wait_for(lambda: running.buffered <= limits.max_buffered_bytes)
        normal = Client(running.port)
        assert normal.send(msg("N1")).code == "AA"
        normal.close()
        for hog in hogs:
            hog.close()
        assert wait_for(lambda: running.buffered == 0 and running.connections == 0)
    assert [r.meta["control_id"] for r in store.list_inbound()] == ["N1"]
