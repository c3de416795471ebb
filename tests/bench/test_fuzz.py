"""bench/fuzz.py and bench/mllp_load.py must keep running: tiny runs print every target's figures, consistent with
each other, and meet the goals (0 crashes, 0 frames without an answer, RSS back after the load)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result.stdout


def test_fuzz_bench_prints_each_target_and_meets_its_goals() -> None:
    out = run("fuzz.py", "--n", "60")
    assert "fuzz: 60 inputs per target, seed 14" in out
    for target in ("mllp", "v2", "fhir", "webhook"):
        line = re.search(rf"^{target}\s+inputs (\d+)  crashes (\d+)  [\d.]+ s  RSS [\d.]+ -> [\d.]+ MB$", out, re.M)
        assert line, out
        assert line.group(1) == "60" and line.group(2) == "0"
    frames = re.search(r"rows stored (\d+) / distinct frames sent (\d+)", out)
    assert frames and frames.group(1) == frames.group(2), out
    assert re.search(r"complete frames without an answer: 0 ", out)
    answers = re.search(r"^mllp .*\n\s+answers: (.+)$", out, re.M)
    assert answers, out
    counted = sum(int(n) for n in re.findall(r"[A-Z]{2} (\d+)", answers.group(1)))
    assert 0 < counted <= 60
    assert out.strip().endswith("crashes 0, unanswered 0 -> met")


def test_load_bench_prints_the_phases() -> None:
    out = run("mllp_load.py", "--held", "20", "--partial", "4", "--partial-bytes", "200000", "--messages", "20")
    for phase in ("1 baseline", "2 20 silent connections held", "3 4 partial 0.190735 MB frames", "4 after the load"):
        row = re.search(rf"^{re.escape(phase)}\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+  (\d+)/(\d+)$", out, re.M)
        assert row, out
        assert row.group(2) == row.group(3) == "20"  # normal traffic answered AA throughout
    assert re.search(r"^2 20 silent connections held\s+2[01]\s", out, re.M)  # the silent ones are held (+ the sender)
    assert re.search(r"goal \(RSS after the load within 30 MB of the baseline\): [+-][\d.]+ MB -> (met|MISSED)", out)
