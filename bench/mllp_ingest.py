"""MLLP ingest: messages/s and ACK latency of rtletter's listener against hl7apy's own MLLPServer, in one run.

    .venv/bin/python bench/mllp_ingest.py                # 10,000 messages; hl7apy on the first 500 of them
    .venv/bin/python bench/mllp_ingest.py --baseline-n 10000
    .venv/bin/python bench/mllp_ingest.py --quick        # 1,000 messages, hl7apy on 100
    .venv/bin/python bench/mllp_ingest.py --db-dir /dev/shm   # where the SQLite files go (default: a temp dir)

Messages: half ORU^R01 end-of-treatment summaries from ``rtletter.demo.synth`` (3-7 KB), half ADT^A08 built
from the same synthetic patients (MSH, EVN, PID, PV1: about 0.5 KB); each gets its own MSH-10 and original-mode
acknowledgement (MSH-15/16 empty). Client processes (``--clients``, default 4) each send their share and wait for
every ACK before the next message, as MLLP senders do; the wall time runs from the moment all are connected and
told to go until the last ACK.

Both servers run in this process and store every message raw in a fresh SQLite job store (WAL, synchronous=FULL)
before they answer:
  (a) rtletter: ``MllpListener`` (asyncio, persistent connections, MSH read only, group commit, then AA);
  (b) hl7apy: ``hl7apy.mllp.MLLPServer`` with the handler its documentation shows (``parse_message``, then the
      ACK built with hl7apy), storing with ``JobStore.store_inbound`` (one commit per message) before replying.
      MLLPServer closes the connection after each message, so its clients reconnect per message. Its handler
      decodes frames as latin-1 (the class default utf-8 would drop the latin-1 messages).
The fsync probe prints what one durable commit costs on this disk: per-message commits cannot beat 1 / fsync.
Goal (issue 4): (a) >= 1,000 messages/s on 2 cores. The machine may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

GOAL_MSG_S = 1000.0
_WARM_UP = "MSH|^~\\&|A|B|C|D|20260101||ADT^A08^ADT_A01|W1|P|2.5.1\rEVN|A08|20260101\rPID|1||1^^^^MR\r"
VT, FS, CR = b"\x0b", b"\x1c", b"\r"


# --- client process (stdlib only, started as ``mllp_ingest.py --client PLAN``) -------------------------------------


def _client(plan_text: str) -> int:
    plan = json.loads(plan_text)
    frames = Path(plan["frames"]).read_bytes().split(FS + CR)[:-1]
    frames = [frame + FS + CR for frame in frames]
    host, port, reconnect = plan["host"], plan["port"], plan["reconnect"]

    def connect() -> socket.socket:
        sock = socket.create_connection((host, port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    sock = None if reconnect else connect()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()  # "go"
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    buffer = b""
    window = plan.get("window", 1)
    if window > 1 and sock is not None:
        return _pipelined(sock, frames, window)
    for frame in frames:
        started = time.perf_counter()
        if reconnect:
            sock = connect()
            buffer = b""
        assert sock is not None
        sock.sendall(frame)
        while FS not in buffer:
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
        answer, _, buffer = buffer.partition(FS + CR)
        latencies.append(time.perf_counter() - started)
        at = answer.find(b"\rMSA")
        codes[answer[at + 5 : at + 7].decode("latin-1") if at >= 0 else "none"] += 1
        if reconnect:
            sock.close()
    if sock is not None and not reconnect:
        sock.close()
    sys.stdout.write(json.dumps({"latencies": latencies, "codes": codes}) + "\n")
    return 0


def _pipelined(sock: socket.socket, frames: list[bytes], window: int) -> int:
    """Keep up to ``window`` messages unacknowledged on the connection (senders that stream); ACKs come in order."""
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    sent_at: list[float] = []
    buffer = b""
    answered = 0
    while answered < len(frames):
        while len(sent_at) < len(frames) and len(sent_at) - answered < window:
            sent_at.append(time.perf_counter())
            sock.sendall(frames[len(sent_at) - 1])
        while FS not in buffer:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            buffer += data
        answer, _, buffer = buffer.partition(FS + CR)
        latencies.append(time.perf_counter() - sent_at[answered])
        answered += 1
        at = answer.find(b"\rMSA")
        codes[answer[at + 5 : at + 7].decode("latin-1") if at >= 0 else "none"] += 1
    sock.close()
    sys.stdout.write(json.dumps({"latencies": latencies, "codes": codes}) + "\n")
    return 0


# --- messages -----------------------------------------------------------------------------------------------------


def _fields(segment: bytes) -> list[bytes]:
    return segment.split(b"|")


def build_messages(n: int, seed: int = 7) -> tuple[list[bytes], str]:
    """``n`` messages alternating ORU^R01 and ADT^A08 (from the synthetic cohort), each with its own MSH-10."""
    from rtletter.demo.synth.generate import generate_cohort

    patients = generate_cohort(min(40, max(2, n // 2)), seed)
    oru: list[bytes] = []
    adt: list[bytes] = []
    for patient in patients:
        segments = [s for s in patient.v2.split(b"\r") if s]
        msh = _fields(segments[0])
        msh[14:16] = [b"", b""]  # original acknowledgement mode
        oru.append(b"\r".join([b"|".join(msh), *segments[1:]]) + b"\r")
        adt_msh = list(msh)
        adt_msh[8] = b"ADT^A08^ADT_A01"
        evn = b"EVN|A08|" + msh[6]
        keep = [s for s in segments[1:] if s[:3] in (b"PID", b"PV1")]
        adt.append(b"\r".join([b"|".join(adt_msh), evn, *keep]) + b"\r")
    messages = []
    for i in range(n):
        pool = oru if i % 2 == 0 else adt
        first, _, rest = pool[(i // 2) % len(pool)].partition(b"\r")
        msh = _fields(first)
        msh[9] = f"B{i:09d}".encode()
        messages.append(b"|".join(msh) + b"\r" + rest)
    sizes = (statistics.mean(len(m) for m in oru), statistics.mean(len(m) for m in adt))
    return messages, f"ORU^R01 ~{sizes[0] / 1024:.1f} KB, ADT^A08 ~{sizes[1] / 1024:.1f} KB"


# --- servers ------------------------------------------------------------------------------------------------------


def _store(folder: Path, name: str):  # type: ignore[no-untyped-def]
    from rtletter.agent.jobs.store import JobStore

    store = JobStore(f"sqlite:///{folder / name}")
    store.create_tables()
    return store


class RtletterServer:
    def __init__(self, folder: Path) -> None:
        from rtletter.agent.hl7v2.listener import MllpListener

        self.store = _store(folder, "rtletter.db")
        self.listener = MllpListener(self.store, port=0, encoding="latin-1")

    def __enter__(self) -> tuple[str, int]:
        self.listener.start()
        return "127.0.0.1", self.listener.port

    def __exit__(self, *exc: object) -> None:
        self.listener.stop()

    def stored(self) -> int:
        return self.store.counts()["inbound"].get("received", 0)

    def commits(self) -> int | None:
        commit = self.listener._commit  # noqa: SLF001 - the bench reports the group-commit batch size
        return commit.commits if commit is not None else None


class Hl7apyServer:
    """hl7apy's MLLPServer with the documented handler shape: parse, store, build the ACK with hl7apy."""

    def __init__(self, folder: Path) -> None:
        from hl7apy.core import Message
        from hl7apy.mllp import AbstractHandler, MLLPRequestHandler, MLLPServer
        from hl7apy.parser import parse_message

        from rtletter.agent.jobs.schema import utcnow

        store = self.store = _store(folder, "hl7apy.db")

        class Handler(AbstractHandler):
            def reply(self) -> str:
                incoming = parse_message(self.incoming_message)
                raw = self.incoming_message.encode("latin-1")
                control_id = incoming.msh.msh_10.to_er7()
                store.store_inbound(
                    channel="mllp",
                    key=f"hl7apy|{control_id}",
                    payload=raw,
                    content_type="x-application/hl7-v2+er7",
                    received_at=utcnow(),
                )
                answer = Message("ACK", version=incoming.version)
                answer.msh.msh_3 = incoming.msh.msh_5.to_er7() or "RTL"
                answer.msh.msh_5 = incoming.msh.msh_3.to_er7()
                answer.msh.msh_9 = "ACK^" + incoming.msh.msh_9.msh_9_2.to_er7() + "^ACK"
                answer.msa.msa_1 = "AA"
                answer.msa.msa_2 = control_id
                return str(answer.to_mllp())

        class Latin1Handler(MLLPRequestHandler):
            encoding = "latin-1"

        parse_message(_WARM_UP)  # hl7apy loads its version tables on first use: not part of the per-message cost
        handlers = {t: (Handler,) for t in ("ORU^R01^ORU_R01", "ADT^A08^ADT_A01")}
        self.server = MLLPServer("127.0.0.1", 0, handlers, timeout=30, request_handler_class=Latin1Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> tuple[str, int]:
        self.thread.start()
        return "127.0.0.1", self.server.server_address[1]

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def stored(self) -> int:
        return self.store.counts()["inbound"].get("received", 0)

    def commits(self) -> int | None:
        return None


# --- one run ------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    messages: int
    seconds: float
    latencies: list[float]
    codes: Counter[str]
    stored: int
    commits: int | None
    server_cpu_s: float  # CPU time of this process (the server's threads) during the run
    client_cpu_s: float  # CPU time of the client processes

    @property
    def cpu_ms_per_message(self) -> tuple[float, float]:
        return self.server_cpu_s / self.messages * 1000, self.client_cpu_s / self.messages * 1000

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def drive(label: str, server: RtletterServer | Hl7apyServer, messages: list[bytes], clients: int, reconnect: bool,
          folder: Path, window: int = 1) -> Result:  # fmt: skip
    with server as (host, port):
        procs = []
        for k in range(clients):
            frames = folder / f"{label.split()[0]}-{k}.frames"
            frames.write_bytes(b"".join(VT + m + FS + CR for m in messages[k::clients]))
            plan = {"frames": str(frames), "host": host, "port": port, "reconnect": reconnect, "window": window}
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--client", json.dumps(plan)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        cpu_started = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=3600)[0] for proc in procs]
        seconds = time.perf_counter() - started
        server_cpu = time.process_time() - cpu_started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        latencies: list[float] = []
        codes: Counter[str] = Counter()
        for proc, out in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise SystemExit(f"{label}: a client failed (exit {proc.returncode})")
            data = json.loads(out.strip().splitlines()[-1])
            latencies += data["latencies"]
            codes.update(data["codes"])
        time.sleep(0.1)
        stored, commits = server.stored(), server.commits()
        return Result(label, len(messages), seconds, latencies, codes, stored, commits, server_cpu, client_cpu)


def fsync_probe(folder: Path, rounds: int = 50) -> float:
    """Median milliseconds of write + fsync of a small block in ``folder``."""
    path = folder / "fsync.probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=None, help="messages (default 10,000; --quick 1,000)")
    parser.add_argument("--baseline-n", default=None, help="messages for hl7apy (default 500; --quick 100; all)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--window", type=int, default=1, help="unacknowledged messages per rtletter client (default 1: wait for each)"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--db-dir", type=Path, default=None, help="folder for the SQLite files (default: temp)")
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.quick else 10_000)
    baseline = args.baseline_n or str(100 if args.quick else 500)
    baseline_n = n if baseline == "all" else min(n, int(baseline))
    from rtletter.agent.log import configure_logging

    configure_logging("WARNING", json_output=False, stream=sys.stderr)  # the listener's own log lines stay out
    messages, kinds = build_messages(n)
    with tempfile.TemporaryDirectory(prefix="mllp-bench-", dir=args.db_dir) as tmp:
        folder = Path(tmp)
        probe = fsync_probe(folder)
        load = os.getloadavg()[0]
        waits = "one ACK awaited at a time" if args.window == 1 else f"rtletter clients keep {args.window} in flight"
        print(f"MLLP ingest: {n} messages ({kinds}), {args.clients} client processes, {waits}")
        print(f"store: SQLite WAL synchronous=FULL in {folder}; fsync probe {probe:.2f} ms")
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start (shared: other processes may run)")
        ours = drive("rtletter listener", RtletterServer(folder), messages, args.clients, False, folder, args.window)
        theirs = drive("hl7apy MLLPServer", Hl7apyServer(folder), messages[:baseline_n], args.clients, True, folder)
    head = f"{'server':<22}{'messages':>9}{'msg/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'stored':>8}"
    print(f"{head}{'cpu ms/msg server+clients':>27}  answers")
    for r in (ours, theirs):
        answers = ",".join(f"{code} {count}" for code, count in sorted(r.codes.items()))
        server_ms, client_ms = r.cpu_ms_per_message
        print(
            f"{r.label:<22}{r.messages:>9}{r.rate:>10.1f}{r.percentile(0.50):>9.2f}{r.percentile(0.99):>9.2f}"
            f"{r.stored:>8}{server_ms:>16.3f} +{client_ms:>7.3f}  {answers}"
        )
    if ours.commits:
        print(f"rtletter group commit: {ours.commits} commits, {ours.messages / ours.commits:.1f} messages per commit")
    ratio = ours.rate / theirs.rate
    print(f"ratio rtletter / hl7apy (msg/s): {ratio:.1f} x")
    cpu_ratio = sum(theirs.cpu_ms_per_message) / sum(ours.cpu_ms_per_message)
    print(f"ratio hl7apy / rtletter (CPU per message, server + clients): {cpu_ratio:.1f} x")
    capacity = 2 * 1000 / sum(ours.cpu_ms_per_message)
    print(f"rtletter on 2 idle cores, from its CPU per message (server + clients): ~{capacity:.0f} msg/s")
    if probe >= 0.05 and args.window == 1:
        bound = args.clients / (probe / 1000)
        print(
            f"durability bound: {args.clients} senders awaiting their ACK put at most {args.clients} messages in a "
            f"commit of >= {probe:.2f} ms (one fsync): <= {bound:.0f} msg/s on this disk"
        )
    verdict = "met" if ours.rate >= GOAL_MSG_S else "MISSED"
    print(f"goal (>= {GOAL_MSG_S:.0f} msg/s): {ours.rate:.1f} msg/s -> {verdict}")
    lost = [r.label for r in (ours, theirs) if r.stored != r.messages or r.codes.get("AA", 0) != r.messages]
    if lost:
        print(f"ERROR: not every message was stored and acknowledged AA: {', '.join(lost)}")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        sys.exit(_client(sys.argv[2]))
    sys.exit(main())
