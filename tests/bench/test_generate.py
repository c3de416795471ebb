"""bench/generate.py must keep running: a quick run prints tokens/s for every row and the four ratios."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "generate.py"
ROWS = ["fp32 base", "nf4 base", "fp32 + adapter, unmerged", "fp32 + adapter, merged", "nf4 + adapter, unmerged",
        "fp32 + adapter, merged, batch 4", "slot prompts, unconstrained, batched",
        "slot prompts, constrained, batched"]  # fmt: skip


@pytest.mark.slow
def test_quick_bench_measures_every_row(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ROWS
    assert all(r["tokens_per_second"] > 0 for r in rows)
    for row in ROWS:
        assert re.search(rf"^{re.escape(row)}\s+\d+\s+\d+\.\d\s+\d+\.\d\dx$", result.stdout, re.MULTILINE), row
    for ratio in ("merged / unmerged adapter", "nf4 / fp32 \\(base\\)", "batched speed-up \\(batch 4 vs 1, merged\\)",
                  "fact-slot constraint on / off \\(slot prompts, batched\\)"):  # fmt: skip
        assert re.search(rf"^{ratio}: \d+\.\d\dx$", result.stdout, re.MULTILINE), ratio
