"""Fuzzing at volume: mutated inputs against the MLLP listener, both mappers and the FHIR webhook, with the figures
issue 14 asks for.

    .venv/bin/python bench/fuzz.py                        # 100,000 inputs per target
    .venv/bin/python bench/fuzz.py --n 2000               # a smaller run (the machine is shared)
    .venv/bin/python bench/fuzz.py --n 500 --targets mllp,webhook --seed 7

Targets (each gets ``--n`` inputs from one seeded ``random.Random``: the same run twice gives the same inputs):

- ``mllp``: one ``MllpListener`` on 127.0.0.1 with a fresh SQLite job store; a client sends mutated HL7 v2 messages
  framed, 32 frames in flight on a persistent connection, and 1 input in 50 is a raw byte stream on a connection of
  its own (framing attacks: stray start/end blocks, truncated frames). Printed: answers by code, complete frames left
  without an answer (goal 0; frames whose MSH-15 asks for no answer are counted apart), rows stored against distinct
  frames sent, crashes (an error the listener logged for a connection, a dropped connection; goal 0).
- ``v2``: ``split_batch`` + ``case_from_v2`` (the MLLP channel's intake) on the same kind of mutants; a crash is any
  exception other than a ``MappingError``.
- ``fhir``: ``case_from_bundle`` on mutants of a synthetic course-summary Bundle (values swapped, keys dropped, the
  text cut, nesting thousands deep, noise); a crash is any exception other than a ``MappingError``.
- ``webhook``: ``POST /fhir/notify`` with the secret (the agent's app, in process, storing into SQLite): the same
  FHIR mutants, 1 in 500 a body over the 4 MB limit; a crash is a 5xx or an exception. Answers by status.

RSS (VmRSS of this process) before and after each target. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

VT, FS, CR = b"\x0b", b"\x1c", b"\r"
WINDOW = 32
TARGETS = ("mllp", "v2", "fhir", "webhook")
ORU = (
    b"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ORU^R01^ORU_R01|C1|P|2.5.1||||||8859/1\r"
    b"PID|1||4711^^^^MR||M\xfcller^J\xf6rg||19610412|M\rPV1|1|O|||||||||||||||||RT42\r"
    b"OBR|1||RT42|1217123003^Radiotherapy course summary^SCT|||20260101|20260228\r"
    b"OBX|1|NM|1156854004^Total dose^SCT||60|Gy|||||F\rOBX|2|TX|TEXT||Bestrahlung \\.br\\gut vertragen||||||F\r"
)
ADT = (
    b"MSH|^~\\&|OIS|RADONC|RTL|KH|20260301120000||ADT^A08^ADT_A01|A1|P|2.5.1\r"
    b"EVN|A08|20260301120000\rPID|1||4711^^^^MR||Muster^Max||19700101|M\rPV1|1|O\r"
)
CHARSETS = [
    "", "8859/1", "8859/15", "UNICODE UTF-8", "UTF-8", "ASCII", "UNICODE UTF-16", "UNICODE UTF-32", "UTF-16",
    "utf_16_le", "UTF-\x008", "\x00", "zlib", "rot13", "idna", "utf-7", "cp037", "punycode", "unicode_escape",
    "KLINGON", "shift_jis", "iso2022_jp",
]  # fmt: skip
SPECIAL = [
    b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\r\n", b"\x00", b"\x0b", b"\x1c", b"\xef\xbb\xbf", b"\xff\xfe",
    b"\\X", b"\\.br\\", b"\\X0D\\", b"\xfc", b"\xc3", b"MSH|", b"BHS|", b"BTS|1", b"FHS|",
]  # fmt: skip


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- inputs ---------------------------------------------------------------------------------------------------------


def _chunk(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.choice(SPECIAL)
    return rng.randbytes(rng.randint(1, 12))


def _text(rng: random.Random, size: int) -> str:
    return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0, 0x2FF), rng.randint(0, 0x10FFFF)]))
                   for _ in range(rng.randint(0, size)))  # fmt: skip


def v2_mutant(rng: random.Random, seeds: list[bytes]) -> bytes:
    seed = rng.choice(seeds)
    kind = rng.choice(["charset", "charset", "field", "bytes", "segments", "random"])
    if kind == "charset":
        first, _, rest = seed.partition(b"\r")
        fields = first.split(b"|")
        fields += [b""] * (18 - len(fields))
        name = rng.choice(CHARSETS) if rng.random() < 0.7 else _text(rng, 12)
        fields[17] = name.encode("utf-8", "surrogatepass")
        body = b"|".join(fields) + b"\r" + rest
        if rng.random() < 0.5:
            body = body.decode("latin-1").encode(rng.choice(["utf-8", "utf-16", "cp1252"]), "replace")
        return body
    if kind == "field":
        segments = seed.split(b"\r")
        index = rng.randrange(max(1, len(segments) - 1))
        fields = segments[index].split(b"|")
        position = rng.randint(0, len(fields) + 3)
        value = _chunk(rng) if rng.random() < 0.5 else _text(rng, 30).encode("utf-8", "surrogatepass")
        if position < len(fields):
            fields[position] = value
        else:
            fields += [b""] * (position - len(fields)) + [value]
        segments[index] = b"|".join(fields)
        return b"\r".join(segments)
    if kind == "bytes":
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            at = rng.randint(0, len(data))
            action = rng.choice(["insert", "delete", "replace"])
            if action == "insert":
                data[at:at] = _chunk(rng)
            elif action == "delete":
                del data[at : at + rng.randint(1, 40)]
            else:
                data[at : at + 1] = _chunk(rng)
        return bytes(data)
    if kind == "segments":
        segments = [s for s in seed.split(b"\r") if s]
        kept = [segments[0]] + [s for s in rng.sample(segments[1:], len(segments) - 1) if rng.random() < 0.7]
        kept += [rng.choice(segments)] * rng.randint(0, 3)
        end = rng.choice([b"\r", b"\n", b"\r\n"])
        return end.join(kept) + end
    prefix = rng.choice([b"", b"MSH|^~\\&|", b"MSH|^~\\&|A|B|C|D|2026||ORU^R01|X|P|2.5.1|"])
    return prefix + rng.randbytes(rng.randint(0, 300))


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 2**63, rng.randint(-(10**6), 10**6)])
    if kind == 3:
        return rng.choice([0.5, 1e308, -0.0, rng.random()])
    if kind == 4:
        return _text(rng, 20)
    if kind == 5:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng, 8): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*path, index))
    return out


class FhirMutants:
    def __init__(self) -> None:
        from rtletter.demo.synth import generate_cohort

        self.bundle = generate_cohort(1, seed=14)[0].bundle
        self.text = json.dumps(self.bundle).encode("utf-8")
        self.paths = [p for p in _paths(self.bundle) if p]

    def __call__(self, rng: random.Random) -> bytes:
        kind = rng.choice(["value", "drop", "text", "deep", "random"])
        if kind in ("value", "drop"):
            bundle = json.loads(self.text)
            path = rng.choice(self.paths)
            parent = bundle
            for step in path[:-1]:
                parent = parent[step]
            if kind == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = _json_value(rng)
            return json.dumps(bundle).encode("utf-8")
        if kind == "text":
            data = bytearray(self.text)
            for _ in range(rng.randint(1, 4)):
                at = rng.randint(0, len(data))
                if rng.random() < 0.5:
                    data[at:at] = rng.choice([b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\x00", b"\xff"])
                else:
                    del data[at : at + rng.randint(1, 30)]
            return bytes(data)
        if kind == "deep":
            depth = rng.randint(60, 20_000)
            opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
            return (
                b'{"resourceType": "Bundle", "type": "collection", "entry": '
                + opener * depth
                + b"1"
                + closer * depth
                + b"}"
            )
        return rng.choice([b"", b"{", b"["]) + rng.randbytes(rng.randint(0, 200))


# --- targets --------------------------------------------------------------------------------------------------------


def _msh15(message: bytes) -> bytes:
    first = message.lstrip(b"\xef\xbb\xbf \t\r\n").replace(b"\n", b"\r").split(b"\r", 1)[0]
    if not first.startswith(b"MSH") or len(first) < 4:
        return b""
    fields = first[4:].split(first[3:4])
    return fields[13].strip().upper() if len(fields) > 13 else b""


def _control_id(ack: bytes) -> bytes:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA"):
            parts = segment.split(segment[3:4] or b"|")
            return parts[2] if len(parts) > 2 else b""
    return b""


def _code(ack: bytes) -> str:
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA"):
            parts = segment.split(segment[3:4] or b"|")
            return parts[1].decode("latin-1") if len(parts) > 1 else "?"
    return "?"


def fuzz_mllp(n: int, rng: random.Random, folder: Path) -> dict[str, Any]:
    from rtletter.agent.hl7v2.framing import MllpDecoder
    from rtletter.agent.hl7v2.listener import MllpListener
    from rtletter.agent.jobs.store import JobStore
    from rtletter.agent.log import configure_logging

    log = io.StringIO()
    configure_logging("WARNING", stream=log)
    store = JobStore(f"sqlite:///{folder / 'mllp.db'}")
    store.create_tables()
    listener = MllpListener(store, port=0, encoding="latin-1", max_message_bytes=65536).start()
    seeds = [ORU, ADT]
    codes: Counter[str] = Counter()
    unanswered = opted_out = dropped = attacks = 0
    sent: set[bytes] = set()
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=60)
    decoder = MllpDecoder(1 << 20)
    pending: list[bytes] = []
    number = 0

    def exchange(batch: list[bytes]) -> None:
        """Send frames and a sentinel; match the answers that come back before the sentinel's."""
        nonlocal number, unanswered, opted_out, sock, decoder
        number += 1
        sentinel = b"MSH|^~\\&|OIS|RADONC|RTL|KH|2026||ADT^A08|SENTINEL%d|P|2.5.1\rPID|1\r" % number
        sock.sendall(b"".join(VT + m + FS + CR for m in [*batch, sentinel]))
        answers: list[bytes] = []
        while True:
            while not pending:
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                pending.extend(f.data for f in decoder.feed(data))
            answer = pending.pop(0)
            if _control_id(answer) == b"SENTINEL%d" % number:
                break
            answers.append(answer)
        for answer in answers:
            codes[_code(answer)] += 1
        # MSH-15 NE/ER/SU may ask for no answer: missing answers up to their number are theirs
        missing = len(batch) - len(answers)
        silent = sum(_msh15(m) in (b"NE", b"ER", b"SU") for m in batch)
        opted_out += min(missing, silent)
        unanswered += max(0, missing - silent)
        sent.update(batch)
        sent.add(sentinel)

    batch: list[bytes] = []
    for _ in range(n):
        if rng.random() < 0.02:  # a framing attack on a connection of its own
            attacks += 1
            parts = [
                rng.choice([VT, FS, CR, VT + b"MSH|", FS + CR, rng.randbytes(rng.randint(0, 64))]) for _ in range(8)
            ]
            stream = b"".join(parts)
            sent.update(f.data for f in MllpDecoder(65536).feed(stream))  # the complete frames in it are stored too
            try:
                with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as raw:
                    raw.sendall(stream)
                    raw.shutdown(socket.SHUT_WR)
                    while raw.recv(65536):
                        pass
            except OSError:
                dropped += 1
            continue
        batch.append(v2_mutant(rng, seeds).replace(VT, b"").replace(FS, b""))
        if len(batch) == WINDOW:
            try:
                exchange(batch)
            except OSError:
                dropped += 1
                sock = socket.create_connection(("127.0.0.1", listener.port), timeout=60)
                decoder, pending[:] = MllpDecoder(1 << 20), []
            batch = []
    if batch:
        exchange(batch)
    sock.close()
    time.sleep(0.2)
    listener.stop()
    events = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
    errors = [e for e in events if e.get("level") in ("error", "critical") and e["event"] != "mllp message not stored"]
    rows = len(store.list_inbound(limit=10_000_000))
    return {
        "inputs": n,
        "crashes": len(errors) + dropped,
        "unanswered": unanswered,
        "opted_out": opted_out,
        "codes": codes,
        "rows": rows,
        "frames": len(sent),
        "attacks": attacks,
    }


def _where(exc: BaseException) -> str:
    """The innermost frame of rtletter's own code (file:line): where to look, without the input."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/site-packages/" not in f.filename]
    last = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


def fuzz_mapper(
    n: int, rng: random.Random, make: Callable[[random.Random], bytes], run: Callable[[bytes], object]
) -> dict[str, Any]:
    from rtletter.mappers.errors import MappingError

    outcomes: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    for _ in range(n):
        data = make(rng)
        try:
            run(data)
            outcomes["mapped"] += 1
        except MappingError as exc:
            outcomes[type(exc).__name__] += 1
        except Exception as exc:  # what the fuzzing is for: any other exception is a crash
            crashes[f"{type(exc).__name__} at {_where(exc)}"] += 1
    return {"inputs": n, "crashes": sum(crashes.values()), "crash_types": crashes, "codes": outcomes}


def fuzz_webhook(n: int, rng: random.Random, folder: Path, mutants: FhirMutants) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from rtletter.agent.jobs.store import JobStore
    from rtletter.agent.metrics import AgentMetrics
    from rtletter.agent.web.app import create_app, notification_router

    store = JobStore(f"sqlite:///{folder / 'webhook.db'}")
    store.create_tables()
    secret = "fuzz-secret"
    _, router = notification_router(store, secret)
    client = TestClient(create_app(store, AgentMetrics(), notifications=router), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
    statuses: Counter[str] = Counter()
    crashes = 0
    for _ in range(n):
        body = (
            mutants(rng) if rng.random() >= 0.002 else b'{"resourceType": "Bundle", "x": "' + b"x" * 5_000_000 + b'"}'
        )
        path = "/fhir/notify" if rng.random() < 0.5 else "/fhir/notify/Procedure/p1"
        try:
            answer = (
                client.post(path, content=body, headers=headers)
                if path.endswith("notify")
                else client.put(path, content=body, headers=headers)
            )
            statuses[str(answer.status_code)] += 1
            crashes += answer.status_code >= 500 and answer.status_code != 503
        except Exception:
            crashes += 1
    client.close()
    return {"inputs": n, "crashes": crashes, "codes": statuses, "rows": len(store.list_inbound(limit=10_000_000))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated: " + ", ".join(TARGETS))
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")

    from rtletter.mappers.fhir import case_from_bundle
    from rtletter.mappers.hl7v2 import case_from_v2, default_profile, split_batch

    profile = default_profile().model_copy(update={"default_encoding": "latin-1"})
    mutants = FhirMutants()

    def map_v2(data: bytes) -> None:
        for message in split_batch(data):
            case_from_v2(message, profile)

    print(f"fuzz: {args.n} inputs per target, seed {args.seed}")
    total_crashes = total_unanswered = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for target in targets:
            rng = random.Random(f"{args.seed}:{target}")
            before = rss_mb()
            started = time.perf_counter()
            if target == "mllp":
                result = fuzz_mllp(args.n, rng, folder)
            elif target == "v2":
                result = fuzz_mapper(args.n, rng, lambda r: v2_mutant(r, [ORU, ADT]), map_v2)
            elif target == "fhir":
                result = fuzz_mapper(args.n, rng, mutants, case_from_bundle)
            else:
                result = fuzz_webhook(args.n, rng, folder, mutants)
            seconds = time.perf_counter() - started
            after = rss_mb()
            total_crashes += result["crashes"]
            codes = ", ".join(f"{k} {v}" for k, v in sorted(result["codes"].items()))
            print(f"{target:<8} inputs {result['inputs']}  crashes {result['crashes']}  {seconds:.1f} s  "
                  f"RSS {before:.1f} -> {after:.1f} MB")  # fmt: skip
            print(f"         answers: {codes}")
            if result.get("crash_types"):
                print(f"         crash types: {dict(result['crash_types'])}")
            if target == "mllp":
                total_unanswered += result["unanswered"]
                print(
                    f"         complete frames without an answer: {result['unanswered']} "
                    f"(MSH-15 asked for none: {result['opted_out']}); framing attacks {result['attacks']}"
                )
                print(f"         rows stored {result['rows']} / distinct frames sent {result['frames']}")
            if target == "webhook":
                print(f"         rows stored {result['rows']}")
    print(f"goal (0 crashes, 0 frames without an answer): crashes {total_crashes}, unanswered {total_unanswered} -> "
          f"{'met' if total_crashes == 0 and total_unanswered == 0 else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
