"""Backfill throughput of the OpenAI-compatible backend at 1, 4, 8 and 16 requests in flight, side by side in one run.

    .venv/bin/python bench/backfill.py               # 600-token letters, 10 ms per token: about a minute
    .venv/bin/python bench/backfill.py --quick       # short letters, 1 ms per token: the test that keeps it alive

The server is a stand-in for vLLM on 127.0.0.1: an OpenAI-compatible ``/v1/chat/completions`` that answers every
request after a fixed latency per prompt token (prefill) and per generated token (decode), whatever else is in
flight, as continuous batching does while a GPU's batch is far from full; ``--server-slots`` caps how many sequences
it decodes at once (vLLM's ``--max-num-seqs``), later ones queue. So the figures show what the client contributes:
whether ``OpenAIBackend`` really keeps N requests in flight and what its own overhead costs. Prompts are real
(synthetic cases through ``build_messages``). Each row drafts ``--waves`` x concurrency letters through
``OpenAIBackend.generate`` in one call, as the agent's worker does with a batch; letters/hour = letters / wall time.
The ideal is concurrency x 3600 / (seconds per letter); the ratio measured / ideal is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONCURRENCY = (1, 4, 8, 16)
CASE_SEED = 211


class StandInHandler(BaseHTTPRequestHandler):
    """A fixed-latency OpenAI-compatible chat endpoint; the class attributes are set per server."""

    per_token_s = 0.01
    per_prompt_token_s = 0.0001
    letter_tokens = 600
    slots: threading.BoundedSemaphore
    in_flight = 0
    peak_in_flight = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._answer(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        cls = type(self)
        prompt_tokens = sum(len(m["content"]) // 4 + 4 for m in body["messages"])
        tokens = min(cls.letter_tokens, int(body.get("max_tokens") or cls.letter_tokens))
        with cls.slots:
            with cls.lock:
                cls.in_flight += 1
                cls.peak_in_flight = max(cls.peak_in_flight, cls.in_flight)
            try:
                time.sleep(prompt_tokens * cls.per_prompt_token_s + tokens * cls.per_token_s)
            finally:
                with cls.lock:
                    cls.in_flight -= 1
        finish = "length" if tokens < cls.letter_tokens else "stop"
        self._answer(200, {
            "id": "chatcmpl-standin", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Wort " * tokens},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                      "total_tokens": prompt_tokens + tokens},
        })  # fmt: skip

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5, and the bench opens up to 16 connections at once: the likely cause of
    # one ReadError seen while another job loaded the machine (not reproduced under a plain CPU load).
    request_queue_size = 128
    daemon_threads = True


@contextmanager
def stand_in_server(per_token_s: float, letter_tokens: int, *, per_prompt_token_s: float = 0.0001,
                    slots: int = 256) -> Iterator[tuple[str, type[StandInHandler]]]:  # fmt: skip
    """A stand-in vLLM on 127.0.0.1 (an ephemeral port); yields its URL and its handler class (for the counters)."""
    handler = type("Handler", (StandInHandler,), {
        "per_token_s": per_token_s, "per_prompt_token_s": per_prompt_token_s, "letter_tokens": letter_tokens,
        "slots": threading.BoundedSemaphore(slots), "in_flight": 0, "peak_in_flight": 0, "lock": threading.Lock(),
    })  # fmt: skip
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def conversations(count: int) -> list[list[dict[str, str]]]:
    """Real prompts: synthetic cases (German and English alternating) through ``build_messages``."""
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.prompt import build_messages

    half = (count + 1) // 2
    cases = [item.case for lang in ("de", "en") for item in synthesize(half, CASE_SEED, lang)]
    return [[dict(m) for m in build_messages(case)] for case in cases[:count]]


def run(per_token_s: float, letter_tokens: int, waves: int, slots: int,
        levels: Sequence[int] = CONCURRENCY) -> list[dict[str, Any]]:  # fmt: skip
    from rtletter.model import OpenAIBackend

    prompts = conversations(max(levels) * waves)
    rows = []
    with stand_in_server(per_token_s, letter_tokens, slots=slots) as (url, handler):
        for concurrency in levels:
            batch = prompts[: concurrency * waves]
            handler.peak_in_flight = 0
            with OpenAIBackend(url, "rtletter-letters", concurrency=concurrency, retries=0) as generator:
                started = time.perf_counter()
                drafts = generator.generate(batch, max_new_tokens=1024)
                seconds = time.perf_counter() - started
            per_letter = sum(d.seconds for d in drafts) / len(drafts)  # the server's time for one letter
            measured = len(drafts) / seconds * 3600
            ideal = min(concurrency, slots) * 3600 / per_letter
            rows.append({
                "concurrency": concurrency, "letters": len(drafts), "seconds": seconds,
                "letters_per_hour": measured, "ideal_letters_per_hour": ideal, "of_ideal": measured / ideal,
                "peak_in_flight": handler.peak_in_flight, "seconds_per_letter": per_letter,
                "truncated": sum(d.truncated for d in drafts),
            })  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-token letters at 1 ms per token (for the test)")
    parser.add_argument("--per-token-ms", type=float, default=10.0, help="decode latency per token (default 10)")
    parser.add_argument("--letter-tokens", type=int, default=600, help="tokens per letter (default 600)")
    parser.add_argument("--waves", type=int, default=2, help="letters per row = waves x concurrency (default 2)")
    parser.add_argument("--server-slots", type=int, default=256, help="sequences decoded at once (vLLM max-num-seqs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    per_token_s, letter_tokens = (0.001, 20) if args.quick else (args.per_token_ms / 1000, args.letter_tokens)
    rows = run(per_token_s, letter_tokens, args.waves, args.server_slots)
    print(f"stand-in server: {letter_tokens}-token letters, {per_token_s * 1000:g} ms per token, "
          f"{args.server_slots} slots")  # fmt: skip
    print(f"{'in flight':>9} {'letters':>7} {'seconds':>8} {'letters/hour':>13} {'ideal':>9} {'of ideal':>8} "
          f"{'peak':>5}")  # fmt: skip
    for row in rows:
        print(f"{row['concurrency']:>9} {row['letters']:>7} {row['seconds']:>8.2f} {row['letters_per_hour']:>13.0f} "
              f"{row['ideal_letters_per_hour']:>9.0f} {row['of_ideal']:>8.0%} {row['peak_in_flight']:>5}")  # fmt: skip
    one = rows[0]["letters_per_hour"]
    for row in rows[1:]:
        print(f"speed-up at {row['concurrency']} in flight vs 1: {row['letters_per_hour'] / one:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
