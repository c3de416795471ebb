"""The MLLP listener on loopback with a real SQLite job store: store-then-ACK, quarantine, limits, modes, shutdown.

Clients here are plain sockets in the test process; tests/integration/test_mllp.py drives it from another process.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtletter.agent.errors import JobStoreError
from rtletter.agent.hl7v2.framing import frame
from rtletter.agent.hl7v2.listener import MllpListener
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from tests.agent.hl7v2.mllp_support import Client, msg


@pytest.fixture
def listener(store: JobStore) -> Iterator[MllpListener]:
    with MllpListener(store, port=0, encoding="latin-1", max_message_bytes=4096) as running:
        yield running


@pytest.fixture
def client(listener: MllpListener) -> Iterator[Client]:
    c = Client(listener.port)
    yield c
    c.close()


def test_aa_only_once_the_raw_message_is_in_the_store(store: JobStore, client: Client) -> None:
    raw = msg("C1")
    ack = client.send(raw)
    assert (ack.code, ack.control_id) == ("AA", "C1")
    rows = store.list_inbound()
    # the row is committed by the time the ACK is read: a fresh connection sees it
    assert len(rows) == 1 and rows[0].payload == raw and rows[0].status == Status.received
    assert rows[0].meta["message_type"] == "ADT^A08" and rows[0].meta["encoding"] == "latin-1"
    assert rows[0].channel == "mllp" and "C1" in rows[0].key
    assert "Müller" not in str(rows[0].meta)  # meta is logged: no PHI


def test_persistent_connection_answers_in_order(store: JobStore, client: Client) -> None:
    answers = [client.send(msg(f"P{i}")).control_id for i in range(20)]
    assert answers == [f"P{i}" for i in range(20)]
    assert len(store.list_inbound()) == 20


def test_coalesced_frames_in_one_write_get_one_ack_each_in_order(store: JobStore, client: Client) -> None:
    client.send_raw(b"".join(frame(msg(f"K{i}")) for i in range(10)))
    assert [client.ack().control_id for _ in range(10)] == [f"K{i}" for i in range(10)]
    assert len(store.list_inbound()) == 10


def test_frame_split_over_many_writes(store: JobStore, client: Client) -> None:
    data = frame(msg("S1"))
    for start in range(0, len(data), 5):
        client.send_raw(data[start : start + 5])
        time.sleep(0.002)  # separate TCP segments
    assert client.ack().code == "AA"
    assert store.list_inbound()[0].payload == msg("S1")


def test_replay_is_acknowledged_and_stored_once(store: JobStore, client: Client) -> None:
    assert client.send(msg("R1")).code == "AA"
    assert client.send(msg("R1")).code == "AA"  # the sender missed our ACK and sends again
    assert len(store.list_inbound()) == 1


def test_same_control_id_with_other_content_is_not_dropped(store: JobStore, client: Client) -> None:
    client.send(msg("DUP"))
    client.send(msg("DUP", body="NTE|1||other\r"))
    assert len(store.list_inbound()) == 2


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"HELLO WORLD\r", "AR", "MSH: the message does not start"),
        (msg("U1").replace(b"ADT^A08^ADT_A01", b"QRY^Q01"), "AR", "MSH-9: message type not supported"),
        (msg("U2").replace(b"|C", b"|").replace(b"U2", b""), "AE", "MSH-10"),
        (msg("U3", msh18="UNICODE UTF-8").decode("utf-8").encode("latin-1"), "AR", "MSH-18: bytes at offset"),
    ],
)
def test_bad_messages_are_answered_with_err_and_quarantined(
    store: JobStore, client: Client, raw: bytes, code: str, reason: str
) -> None:
    ack = client.send(raw)
    assert ack.code == code and ack.text
    rows = store.list_inbound()
    assert len(rows) == 1 and rows[0].payload == raw  # never lost
    assert rows[0].status == Status.quarantined and rows[0].quarantine_reason.startswith(reason)
    assert store.claim_inbound("w") is None  # a worker does not pick it up
    assert client.send(msg("OK")).code == "AA"  # the connection goes on


def test_oversized_message_is_rejected_head_kept_and_connection_resynchronises(store: JobStore, client: Client) -> None:
    big = msg("BIG", body="OBX|1|TX|||" + "x" * 10_000 + "\r")
    ack = client.send(big)
    assert (ack.code, ack.control_id) == ("AR", "BIG")
    assert "over this listener's limit of 4096" in ack.text
    row = store.list_inbound()[0]
    assert row.status == Status.quarantined and row.payload == big[:4096] and row.meta["bytes"] == str(len(big))
    assert client.send(msg("AFTER")).control_id == "AFTER"


def test_enhanced_mode_answers_only_what_msh15_asks_for(store: JobStore, client: Client) -> None:
    client.send_raw(frame(msg("NE1", msh15="NE", msh16="NE")))  # no answer wanted
    client.send_raw(frame(msg("ER1", msh15="ER", msh16="NE")))  # success: no answer
    ack = client.send(msg("AL1", msh15="AL", msh16="NE"))
    assert (ack.code, ack.control_id) == ("CA", "AL1")  # the first answer on the wire is for AL1
    rejected = client.send(msg("ER2", msh15="ER").replace(b"ADT^A08^ADT_A01", b"QRY^Q01"))
    assert (rejected.code, rejected.control_id) == ("CR", "ER2")
    assert {r.meta.get("control_id") for r in store.list_inbound()} == {"NE1", "ER1", "AL1", "ER2"}


def test_utf8_message_with_msh18_and_latin1_default(store: JobStore, client: Client) -> None:
    raw = msg("U8", msh18="UNICODE UTF-8")
    assert client.send(raw).code == "AA"
    assert store.list_inbound()[0].meta["encoding"] == "utf-8"


class FailingStore(JobStore):
    """Fault injection: the database is down."""

    def store_inbound_many(self, records, *, actor="agent"):  # type: ignore[no-untyped-def]
        raise JobStoreError("job store sqlite failed: OperationalError")


def test_store_down_means_ae_and_nothing_claimed(tmp_path: Path) -> None:
    failing = FailingStore(f"sqlite:///{tmp_path / 'down.db'}")
    failing.create_tables()
    with MllpListener(failing, port=0) as running:
        c = Client(running.port)
        ack = c.send(msg("X1"))
        c.close()
    assert ack.code == "AE" and "not stored" in ack.text
    assert failing.list_inbound() == []


def test_stop_closes_connections_and_stops_accepting(store: JobStore) -> None:
    running = MllpListener(store, port=0).start()
    c = Client(running.port)
    assert c.send(msg("B1")).code == "AA"
    running.stop()
    assert c.sock.recv(10) == b""  # closed by the listener
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=2)


def test_port_in_use_is_an_error_at_start(store: JobStore, listener: MllpListener) -> None:
    with pytest.raises(OSError):
        MllpListener(store, port=listener.port).start()


def test_on_stored_is_called_for_new_accepted_messages(store: JobStore) -> None:
    calls: list[int] = []
    with MllpListener(store, port=0, on_stored=lambda: calls.append(1)) as running:
        c = Client(running.port)
        c.send(msg("W1"))
        c.send(msg("W1"))  # replay: nothing new
        c.send(b"junk\r")  # quarantined: nothing for the worker
        c.close()
    assert calls == [1]
