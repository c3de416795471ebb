"""MLLP listener under held connections and partial frames: RSS and ACK latency of normal traffic, in one run.

    .venv/bin/python bench/mllp_load.py                      # 500 held connections, 200 partial 1 MB frames
    .venv/bin/python bench/mllp_load.py --held 100 --partial 50 --messages 100   # a smaller run

One listener (``MllpListener`` with the default ``Limits``: 1,000 connections, 64 MiB for unfinished frames, a 60 s
frame deadline, 600 s for a first message) stores into a fresh SQLite job store in this process. Helper processes
(this script with ``--helper``) open the hostile connections, so their memory is not ours. Phases:

  1. baseline: normal traffic alone (``--messages`` ADT^A08, one persistent connection, one at a time);
  2. ``--held`` connections opened and left silent, normal traffic again;
  3. ``--partial`` connections each sending a start block and ``--partial-bytes`` (1 MB) without an end block, normal
     traffic again (frames over the buffer budget close the connections holding the most);
  4. all hostile connections closed: RSS again (issue 14: within 30 MB of the baseline).

Printed per phase: connections open at the listener, bytes of unfinished frames it holds, RSS (VmRSS of this
process), normal traffic's ACK latency p50/p99 and its AA count, and what the limits did (refused, shed, timed out).
Only 127.0.0.1. The machine may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VT, FS, CR = b"\x0b", b"\x1c", b"\r"
GOAL_RSS_RETURN_MB = 30.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def message(number: int) -> bytes:
    return (
        f"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ADT^A08^ADT_A01|LOAD{number}|P|2.5.1\r"
        f"EVN|A08|20260301120000\rPID|1||{4711 + number}^^^^MR||Muster^Max\rPV1|1|O\r"
    ).encode("ascii")


# --- helper process: hostile connections ------------------------------------------------------------------------


def _helper(port: int, count: int, partial_bytes: int) -> int:
    sockets: list[socket.socket] = []
    failed = 0
    chunk = VT + b"MSH|" + b"x" * max(0, partial_bytes - 4)
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            if partial_bytes:
                sock.sendall(chunk)
            sockets.append(sock)
        except OSError:
            failed += 1
    print(json.dumps({"opened": len(sockets), "failed": failed}), flush=True)
    sys.stdin.readline()  # "close"
    for sock in sockets:
        sock.close()
    return 0


def start_helper(port: int, count: int, partial_bytes: int) -> tuple[subprocess.Popen[str], dict[str, int]]:
    command = [sys.executable, __file__, "--helper", str(port), str(count), str(partial_bytes)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def stop_helper(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("close\n")
    process.stdin.flush()
    process.wait(timeout=60)


# --- normal traffic ----------------------------------------------------------------------------------------------


def normal_traffic(port: int, count: int, first: int) -> tuple[list[float], int]:
    """Latencies (ms) and the number of AA for ``count`` messages on one persistent connection."""
    latencies: list[float] = []
    accepted = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for number in range(first, first + count):
            started = time.perf_counter()
            sock.sendall(VT + message(number) + FS + CR)
            answer = b""
            while FS not in answer:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("the listener closed the normal connection")
                answer += data
            latencies.append((time.perf_counter() - started) * 1000)
            accepted += b"|AA|" in answer
    return latencies, accepted


def wait_until(predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():  # type: ignore[operator]
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--held", type=int, default=500, help="silent connections held in phase 2")
    parser.add_argument("--partial", type=int, default=200, help="connections with an unfinished frame in phase 3")
    parser.add_argument("--partial-bytes", type=int, default=1_048_576, help="bytes each unfinished frame sends")
    parser.add_argument("--messages", type=int, default=500, help="normal messages per phase")
    parser.add_argument("--db-dir", default=None, help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--helper", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.helper:
        return _helper(*args.helper)

    from rtletter.agent.hl7v2.listener import Limits, MllpListener
    from rtletter.agent.jobs.store import JobStore
    from rtletter.agent.log import configure_logging

    configure_logging("ERROR")  # the limits log a line per closed connection: not what is measured here
    limits = Limits()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        store = JobStore(f"sqlite:///{Path(folder) / 'load.db'}")
        store.create_tables()
        listener = MllpListener(store, port=0, limits=limits).start()
        rows: list[tuple[str, int, int, float, list[float], int]] = []
        sent = 0

        def phase(name: str) -> None:
            nonlocal sent
            latencies, accepted = normal_traffic(listener.port, args.messages, sent)
            sent += args.messages
            gc.collect()
            rows.append((name, listener.connections, listener.buffered, rss_mb(), latencies, accepted))

        normal_traffic(listener.port, 50, 10_000_000)  # warm-up: imports, first commits
        gc.collect()
        phase("1 baseline")
        held, opened = start_helper(listener.port, args.held, 0)
        wait_until(lambda: listener.connections >= min(opened["opened"], limits.max_connections))
        phase(f"2 {args.held} silent connections held")
        stop_helper(held)
        wait_until(lambda: listener.connections == 0)
        partial, opened_partial = start_helper(listener.port, args.partial, args.partial_bytes)
        phase(f"3 {args.partial} partial {args.partial_bytes / 1_048_576:g} MB frames")
        peak_buffered = listener.buffered
        stop_helper(partial)
        wait_until(lambda: listener.connections == 0 and listener.buffered == 0)
        time.sleep(0.5)
        phase("4 after the load")
        listener.stop()

    load = os.getloadavg()
    print(
        f"MLLP load: {args.messages} normal messages per phase; limits {limits.max_connections} connections, "
        f"{limits.max_buffered_bytes / 1_048_576:g} MiB unfinished frames; load average {load[0]:.2f}"
    )
    print(f"{'phase':<36} {'conns':>6} {'buffered MB':>11} {'RSS MB':>8} {'p50 ms':>7} {'p99 ms':>7}  AA")
    for name, connections, buffered, rss, latencies, accepted in rows:
        p50 = statistics.median(latencies)
        p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else latencies[0]
        print(
            f"{name:<36} {connections:>6} {buffered / 1_048_576:>11.1f} {rss:>8.1f} {p50:>7.2f} {p99:>7.2f}"
            f"  {accepted}/{len(latencies)}"
        )
    print(
        f"limits: refused {listener.refused}, shed {listener.shed}, timed out {listener.timed_out}; "
        f"held opened {opened['opened']}, partial opened {opened_partial['opened']}, "
        f"peak unfinished {peak_buffered / 1_048_576:.1f} MB"
    )
    growth = rows[-1][3] - rows[0][3]
    verdict = "met" if growth <= GOAL_RSS_RETURN_MB else "MISSED"
    print(f"goal (RSS after the load within {GOAL_RSS_RETURN_MB:g} MB of the baseline): {growth:+.1f} MB -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
