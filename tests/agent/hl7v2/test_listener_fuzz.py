"""Fuzzing the MLLP listener over a real socket on 127.0.0.1 (issue 14): every frame is answered (unless its MSH-15
asked for no answer) and stored, AA only for what is stored, framing attacks do not stop it, nothing raw on stderr.
500 examples per target, the same on every run."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtletter.agent.hl7v2.framing import END, START, frame
from rtletter.agent.hl7v2.listener import MllpListener
from rtletter.agent.jobs.store import JobStore
from tests.agent.hl7v2.mllp_support import Client, msg
from tests.mappers.fuzz_inputs import FUZZ, v2_messages


def msh15(message: bytes) -> bytes:
    """MSH-15 as a naive reader sees it (the test's own reading, not the listener's)."""
    first = message.lstrip(b"\xef\xbb\xbf \t\r\n").replace(b"\n", b"\r").split(b"\r", 1)[0]
    if not first.startswith(b"MSH") or len(first) < 4:
        return b""
    fields = first[4:].split(first[3:4])
    return fields[13].strip().upper() if len(fields) > 13 else b""


def test_every_fuzzed_frame_is_answered_and_stored(store: JobStore, capfd: pytest.CaptureFixture[str]) -> None:
    sent: set[bytes] = set()
    accepted: set[bytes] = set()
    with MllpListener(store, port=0, encoding="latin-1", max_message_bytes=4096) as running:
        client = Client(running.port)
        counter = iter(range(1_000_000))

        @FUZZ
        @given(v2_messages())
        def exchange(data: bytes) -> None:
            payload = data.replace(START, b"").replace(END, b"")  # a frame's content never holds the frame bytes
            sentinel = msg(f"SENTINEL{next(counter)}")
            client.send_raw(frame(payload) + frame(sentinel))
            answers = []
            while True:
                answer = client.ack()
                if answer.control_id == sentinel.split(b"|")[9].decode():
                    assert answer.code == "AA"
                    break
                answers.append(answer)
            assert len(answers) <= 1, "one frame, one answer"
            if not answers:
                assert msh15(payload) in (b"NE", b"ER", b"SU"), "a frame was left without an answer"
            elif answers[0].code in ("AA", "CA"):
                accepted.add(payload)
            else:
                assert answers[0].code in ("AE", "AR", "CE", "CR") and answers[0].text
            sent.update((payload, sentinel))

        exchange()
        client.close()
    rows = store.list_inbound(limit=100_000)
    assert len(rows) == len(sent)  # every distinct frame is a row: nothing lost, resends not doubled
    stored_ok = {r.payload for r in rows if r.quarantine_reason is None}
    assert accepted <= stored_ok  # no AA without a stored row
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Unhandled exception" not in err


FRAMING = st.lists(
    st.one_of(st.sampled_from([START, END, b"\r", START + b"MSH|", END + b"\r"]), st.binary(max_size=64)), max_size=20
)


def test_framing_attacks_do_not_stop_the_listener(store: JobStore, capfd: pytest.CaptureFixture[str]) -> None:
    with MllpListener(store, port=0, max_message_bytes=256) as running:

        @FUZZ
        @given(FRAMING)
        def attack(parts: list[bytes]) -> None:
            with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
                sock.sendall(b"".join(parts))
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(10)
                while sock.recv(65536):  # answers to whatever frames there were, then the listener closes
                    pass

        attack()
        after = Client(running.port)
        assert after.send(msg("AFTER")).code == "AA"
        after.close()
        assert running.running and running.buffered == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Unhandled exception" not in err
