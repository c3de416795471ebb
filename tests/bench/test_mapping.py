"""bench/mapping.py must keep running: a quick run prints cases/s and ratios for FHIR and HL7 v2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "mapping.py"
ROW = r"\s+{stage}\s+(\d+\.\d)\s+(\d+\.\d{{3}})\s+(\d+\.\d\d)"


@pytest.mark.slow
def test_quick_bench_prints_rates_and_ratios_for_both_inputs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    sections = re.split(r"\n(?=\S.*: 20 inputs)", out)
    labels = [s.splitlines()[0] for s in sections[1:]]
    assert labels == ["FHIR R4 bundle: 20 inputs", "HL7 v2 message: 20 inputs"]
    for section in sections[1:]:
        bare = re.search(ROW.format(stage="bare parse"), section)
        mapping = re.search(ROW.format(stage="mapping"), section)
        both = re.search(ROW.format(stage=r"mapping \+ prompt"), section)
        assert bare and mapping and both, section
        assert float(bare.group(3)) == 1.0
        for match in (bare, mapping, both):
            rate, ms = float(match.group(1)), float(match.group(2))
            # cases/s and ms/case describe the same time, each rounded as printed: half a last digit either way
            half_rate = 0.5 * 10 ** -len(match.group(1).partition(".")[2])
            half_ms = 0.5 * 10 ** -len(match.group(2).partition(".")[2])
            assert rate > 0 and 1000 / (ms + half_ms) - half_rate <= rate <= 1000 / (ms - half_ms) + half_rate
        goal = re.search(r"goal \(mapping \+ prompt <= 1\.50 x bare parse\): (\d+\.\d\d) x -> (met|MISSED)", section)
        assert goal and goal.group(1) == both.group(3)
        assert (goal.group(2) == "met") == (float(goal.group(1)) <= 1.5)
