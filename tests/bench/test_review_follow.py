"""bench/review_follow.py must keep running: a small run prints round trips for both ways and their ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "review_follow.py"


@pytest.mark.integration
def test_small_bench_prints_round_trips_and_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "10"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "open drafts 10, signed in the EHR 1" in result.stdout
    naive = re.search(r"\(a\) naive reads\s+:\s+(\d+) round trips", result.stdout)
    follower = re.search(r"\(b\) follower round\s+:\s+(\d+) round trips", result.stdout)
    assert naive and follower and int(naive.group(1)) == 20 and int(follower.group(1)) == 2
    assert re.search(r"ratio \(a\)/\(b\): round trips 10\.0x", result.stdout)
