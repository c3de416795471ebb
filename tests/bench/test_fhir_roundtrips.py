"""bench/fhir_roundtrips.py must keep measuring: every loaded course polled, drafted and posted, at most 3 round trips
per case (the poller's first start must not hide the bench's courses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fhir_roundtrips.py"


@pytest.mark.integration
def test_small_run_posts_every_course_within_three_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "roundtrips.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["finished_courses_polled"] == figures["cases_posted"] > 0
    assert figures["context_failures"] == 0
    assert figures["round_trips_per_case"] <= 3
