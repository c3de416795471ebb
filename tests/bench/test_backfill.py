"""The HTTP backend keeps N requests in flight and reads finish_reason, against bench/backfill.py's stand-in vLLM on
loopback; and the bench itself keeps running (letters/hour at 1, 4, 8, 16 in flight)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rtletter.model import OpenAIBackend
from tests.bench import load_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "backfill.py"


def _bench() -> ModuleType:
    return load_bench(BENCH)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_requests_in_flight_follow_the_concurrency_and_answers_keep_their_order(concurrency: int) -> None:
    bench = _bench()
    prompts = [[{"role": "user", "content": "x" * (40 * i)}] for i in range(16)]  # distinct prompt lengths
    with bench.stand_in_server(0.002, 25) as (url, handler):
        with OpenAIBackend(url, "letters", concurrency=concurrency, retries=0) as generator:
            drafts = generator.generate(prompts, max_new_tokens=1024)
    assert handler.peak_in_flight == concurrency
    assert [d.prompt_tokens for d in drafts] == [len(p[0]["content"]) // 4 + 4 for p in prompts]  # input order
    assert all(d.completion_tokens == 25 and not d.truncated for d in drafts)


def test_finish_reason_length_marks_the_draft_truncated() -> None:
    bench = _bench()
    with bench.stand_in_server(0.0, 600) as (url, _):
        with OpenAIBackend(url, "letters", retries=0) as generator:
            cut = generator.generate([[{"role": "user", "content": "a"}]], max_new_tokens=100)[0]
            whole = generator.generate([[{"role": "user", "content": "a"}]], max_new_tokens=1024)[0]
    assert cut.truncated and cut.completion_tokens == 100
    assert not whole.truncated and whole.completion_tokens == 600


def test_quick_bench_prints_letters_per_hour_for_each_concurrency(tmp_path: Path) -> None:
    out = tmp_path / "backfill.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["concurrency"] for r in rows] == [1, 4, 8, 16]
    # never more than asked; on a loaded machine one request may finish before the last of a wave starts
    assert all(r["concurrency"] // 2 < r["peak_in_flight"] <= r["concurrency"] for r in rows), rows
    assert rows[2]["letters_per_hour"] > 3 * rows[0]["letters_per_hour"]  # 8 in flight: several times one
    assert all(0 < r["of_ideal"] <= 1.05 for r in rows)
    assert "speed-up at 8 in flight vs 1:" in result.stdout
