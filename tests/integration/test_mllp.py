"""HL7 v2 over MLLP end to end: a separate client process sends real framed traffic (good and bad messages, split and
coalesced writes, TLS) to the listener; the worker maps, drafts and writes back MDM^T02 to a real MLLP receiver, with
retries when the receiver NAKs or drops the connection; ``rtletter run`` serves MLLP and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rtletter.agent.channels.mllp import MllpChannel
from rtletter.agent.config import MllpChannelSettings, MllpOutbound
from rtletter.agent.hl7v2 import ack, framing
from rtletter.agent.hl7v2.header import read_header
from rtletter.agent.hl7v2.listener import MllpListener, server_ssl_context
from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.retry import RetryStrategy
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import Worker
from rtletter.agent.metrics import AgentMetrics
from rtletter.demo.synth.generate import generate_cohort
from rtletter.mappers.hl7v2.documents import document_from_v2
from rtletter.model import TemplateBackend

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
CLIENT = HERE / "mllp_client.py"
FIXTURES = HERE.parent / "fixtures" / "external" / "hl7v2"
ROOT = HERE.parents[1]


def _original_mode(message: bytes) -> bytes:
    """The synthetic messages ask for no acknowledgement (MSH-15/16 NE): clear them, as most senders do."""
    first, _, rest = message.partition(b"\r")
    fields = first.split(b"|")
    fields[14:16] = [b"", b""]
    return b"|".join(fields) + b"\r" + rest


@pytest.fixture(scope="module")
def cohort() -> list[Any]:
    return generate_cohort(3, seed=11)


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[JobStore]:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", lease_s=30)
    store.create_tables()
    yield store
    store.dispose()


def run_client(plan: dict[str, Any]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(CLIENT)], input=json.dumps(plan), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


class SlowStore(JobStore):
    """Fault injection: every commit takes 0.2 s, so an ACK sent before the commit would be caught."""

    def store_inbound_many(self, records, *, actor="agent"):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return super().store_inbound_many(records, actor=actor)


def test_client_process_good_and_bad_messages(tmp_path: Path, cohort: list[Any]) -> None:
    store = SlowStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.create_tables()
    oru = [_original_mode(p.v2) for p in cohort]
    adt = (FIXTURES / "msft-ADT-A08-01.hl7").read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    unsupported = oru[0].replace(b"ORU^R01^ORU_R01", b"QRY^Q01", 1).replace(b"SYN", b"QRY", 1)
    big = oru[1] + b"NTE|1||" + b"x" * 70_000 + b"\r"
    sends = [
        {"hex": oru[0].hex(), "mode": "whole"},
        {"hex": adt.hex(), "mode": "split"},
        {"hex": b"this is not HL7\r".hex(), "mode": "whole"},
        {"hex": unsupported.hex(), "mode": "whole"},
        {"hex": big.hex(), "mode": "whole"},
        {"hex": oru[1].hex(), "mode": "coalesce"},
        {"hex": oru[2].hex(), "mode": "coalesce"},
        {"hex": oru[0].hex(), "mode": "whole"},  # a replay
    ]
    with MllpListener(store, port=0, encoding="latin-1", max_message_bytes=65_536) as listener:
        plan = {"host": "127.0.0.1", "port": listener.port, "db": str(tmp_path / "jobs.db"), "sends": sends}
        answers = run_client(plan)
    assert [a["code"] for a in answers] == ["AA", "AA", "AR", "AR", "AR", "AA", "AA", "AA"]
    assert answers[0]["control_id"] == "SYN01100001-1"
    assert all(a["stored"] for a in answers)  # every answer came after the commit, seen from another process
    assert [a["status"] for a in answers] == [
        "received", "received", "quarantined", "quarantined", "quarantined", "received", "received", "received",
    ]  # fmt: skip
    assert "MSH-9" in answers[3]["text"] or "message type" in answers[3]["text"]
    quarantined = store.list_inbound(Status.quarantined)
    assert [q.quarantine_reason.split(":")[0] for q in quarantined] == ["MSH", "MSH-9", "MSH"]
    assert "over this listener's limit" in (quarantined[2].quarantine_reason or "")
    assert len(store.list_inbound()) == 7  # the replay is one row
    store.dispose()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "mllp.crt", folder / "mllp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_with_a_self_signed_certificate(tmp_path: Path, jobs: JobStore, cohort: list[Any]) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = server_ssl_context(str(cert_file), str(key_file))
    message = _original_mode(cohort[0].v2)
    with MllpListener(jobs, port=0, ssl_context=context) as listener:
        plan = {
            "host": "127.0.0.1",
            "port": listener.port,
            "db": str(tmp_path / "jobs.db"),
            "ca_file": str(cert_file),
            "sends": [{"hex": message.hex()}, {"hex": message.hex(), "mode": "split"}],
        }
        answers = run_client(plan)
        # plain MLLP to the TLS port gets no acknowledgement
        with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as plain:
            plain.sendall(framing.frame(message))
            plain.settimeout(5)
            try:
                reply = plain.recv(100)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        assert not reply.startswith(framing.START)
    assert [a["code"] for a in answers] == ["AA", "AA"] and all(a["stored"] for a in answers)
    assert len(jobs.list_inbound()) == 1


class FlakyReceiver:
    """Fault injection: a receiving system that answers AE, then drops the connection, then accepts (AA)."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                decoder = framing.MllpDecoder(1 << 20)
                frames: list[framing.Frame] = []
                while not frames:
                    data = conn.recv(65536)
                    if not data:
                        break
                    frames = decoder.feed(data)
                if not frames:
                    continue
                self.received.append(frames[0].data)
                action = self.script.pop(0) if self.script else "AA"
                if action == "drop":
                    continue
                header = read_header(frames[0].data, "utf-8")
                outcome = {"AA": ack.ACCEPT, "AE": ack.ERROR, "AR": ack.REJECT}[action]
                error = None if action == "AA" else ack.AckError(code="207", text="try later")
                conn.sendall(framing.frame(ack.build_ack(header, outcome, error=error)))

    def close(self) -> None:
        self.sock.close()


def _worker(store: JobStore, channel: MllpChannel) -> Worker:
    return Worker(
        store,
        {"mllp": channel},
        TemplateBackend(),
        retry=RetryStrategy(max_attempts=5, base_s=0.01, max_s=0.02),
        metrics=AgentMetrics(),
    )


def _drain_until(worker: Worker, done: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "worker did not finish"
        worker.drain()
        time.sleep(0.02)


def test_message_in_draft_out_as_mdm_t02_to_a_real_listener(tmp_path: Path, jobs: JobStore, cohort: list[Any]) -> None:
    ehr = JobStore(f"sqlite:///{tmp_path / 'ehr.db'}")
    ehr.create_tables()
    with MllpListener(ehr, port=0, channel="ehr") as receiver:
        settings = MllpChannelSettings(
            port=1, outbound=MllpOutbound(host="127.0.0.1", port=receiver.port, timeout_s=10, encoding="utf-8")
        )
        channel = MllpChannel(settings, jobs)
        inbound = channel.start_listener()
        try:
            messages = [_original_mode(p.v2) for p in cohort[:2]]
            adt = (FIXTURES / "msft-ADT-A08-01.hl7").read_bytes().replace(b"\n", b"\r")
            sends = [{"hex": m.hex()} for m in [*messages, adt]]
            answers = run_client(
                {"host": "127.0.0.1", "port": inbound.port, "db": str(tmp_path / "jobs.db"), "sends": sends}
            )
            assert [a["code"] for a in answers] == ["AA", "AA", "AA"]
            worker = _worker(jobs, channel)
            _drain_until(worker, lambda: len(jobs.list_jobs(Status.posted)) == 2)
        finally:
            channel.close()
    posted = jobs.list_jobs(Status.posted)
    assert {j.key for j in posted} == {f"hl7v2:{p.case.course.id}" for p in cohort[:2]}
    assert all(j.posted_document.startswith("MDM^T02/") for j in posted)
    assert jobs.counts()["inbound"] == {"context_fetched": 2, "ignored": 1}  # the ADT update made no job, visibly
    (ignored,) = jobs.list_inbound(Status.ignored)
    assert ignored.quarantine_reason == "course status unknown: only a completed or stopped course is drafted"
    documents = [row.payload for row in ehr.list_inbound()]
    assert len(documents) == 2
    for payload, job in zip(documents, sorted(posted, key=lambda j: j.id), strict=True):
        document = document_from_v2(payload)
        assert document is not None and document.status == "IP"
        lines = [line.strip() for line in (job.draft_text or "").split("\n") if line.strip()]
        assert document.text == "\n".join(lines)  # the reader trims lines; the MDM keeps them (OBX per line)
        assert "OBX|1|TX|" in payload.decode("utf-8")
    ehr.dispose()


def test_write_back_retries_after_nak_and_dropped_connection(tmp_path: Path, jobs: JobStore, cohort: list[Any]) -> None:
    receiver = FlakyReceiver(["AE", "drop", "AR", "AA"])
    try:
        settings = MllpChannelSettings(outbound=MllpOutbound(host="127.0.0.1", port=receiver.port, timeout_s=2))
        channel = MllpChannel(settings, jobs)
        jobs.store_inbound(
            channel="mllp",
            key="k1",
            payload=_original_mode(cohort[0].v2),
            content_type="x-application/hl7-v2+er7",
            received_at=dt.datetime.now(dt.UTC),
            meta={"encoding": cohort[0].v2_encoding},
        )
        worker = _worker(jobs, channel)
        _drain_until(worker, lambda: len(jobs.list_jobs(Status.posted)) == 1)
    finally:
        receiver.close()
    assert len(receiver.received) == 4
    assert len(set(receiver.received)) == 1  # every retry sent the same document (same MSH-10 and TXA-12)
    retries = worker.metrics.registry.get_sample_value("rtletter_steps_total", {"step": "post", "outcome": "retry"})
    assert retries == 3


def test_write_back_gives_up_after_the_limit(tmp_path: Path, jobs: JobStore, cohort: list[Any]) -> None:
    receiver = FlakyReceiver(["AR"] * 10)
    try:
        settings = MllpChannelSettings(outbound=MllpOutbound(host="127.0.0.1", port=receiver.port, timeout_s=2))
        channel = MllpChannel(settings, jobs)
        jobs.store_inbound(
            channel="mllp",
            key="k2",
            payload=_original_mode(cohort[1].v2),
            content_type="x-application/hl7-v2+er7",
            received_at=dt.datetime.now(dt.UTC),
            meta={},
        )
        worker = _worker(jobs, channel)
        _drain_until(worker, lambda: len(jobs.list_jobs(Status.dead)) == 1)
    finally:
        receiver.close()
    dead = jobs.list_jobs(Status.dead)[0]
    assert "receiver answered AR" in (dead.last_error or "") and "gave up after 5 attempts" in (dead.last_error or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rtletter_run_serves_mllp_and_stops_on_sigterm(tmp_path: Path, cohort: list[Any]) -> None:
    mllp_port, web_port, ehr_port = _free_port(), _free_port(), _free_port()
    ehr = JobStore(f"sqlite:///{tmp_path / 'ehr.db'}")
    ehr.create_tables()
    config = {
        "database": {"url": f"sqlite:///{tmp_path / 'agent.db'}"},
        "channels": {
            "mllp": {
                "port": mllp_port,
                "encoding": "latin-1",
                "outbound": {"host": "127.0.0.1", "port": ehr_port, "timeout_s": 10},
            }
        },
        "model": {"backend": "template"},
        "scheduler": {"poll_interval_s": 60, "backfill_cron": None},
        "web": {"port": web_port},
        "logging": {"level": "INFO", "json": True},
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with MllpListener(ehr, port=ehr_port, channel="ehr"):
        agent = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "rtletter"), "run", "--config", str(path)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", mllp_port), timeout=1).close()
                    break
                except OSError:
                    assert agent.poll() is None, agent.communicate()[1][-2000:]
                    assert time.monotonic() < deadline, "agent did not open its MLLP port"
                    time.sleep(0.2)
            plan = {
                "host": "127.0.0.1",
                "port": mllp_port,
                "db": str(tmp_path / "agent.db"),
                "sends": [{"hex": _original_mode(cohort[2].v2).hex()}],
            }
            assert [a["code"] for a in run_client(plan)] == ["AA"]
            deadline = time.monotonic() + 60
            while not ehr.list_inbound():  # the worker drafted and posted the MDM^T02
                assert time.monotonic() < deadline, "no MDM^T02 arrived"
                time.sleep(0.2)
        finally:
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=60)
    assert agent.returncode == 0, stderr[-2000:]
    assert "mllp listener stopped" in stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", mllp_port), timeout=2)
    document = document_from_v2(ehr.list_inbound()[0].payload)
    assert document is not None and document.status == "IP"
    assert cohort[2].case.patient.family not in stderr  # no PHI in the agent's logs
    ehr.dispose()
