"""bench/mllp_ingest.py must keep running: a tiny --quick run prints both servers' rows, the ratios and the goal line,
and every figure agrees with the others (not a speed test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "mllp_ingest.py"
ROW = r"^{label}\s+(\d+)\s+(\d+\.\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+)\s+(\d+\.\d{{3}}) \+\s*(\d+\.\d{{3}})\s+(.+)$"


def test_quick_bench_prints_consistent_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--n", "24", "--baseline-n", "6", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert re.search(r"^MLLP ingest: 24 messages \(ORU\^R01 ~\d+\.\d KB, ADT\^A08 ~\d+\.\d KB\), 2 client", out, re.M)
    assert re.search(r"fsync probe \d+\.\d\d ms", out)
    rows = {}
    for label, expected in (("rtletter listener", 24), ("hl7apy MLLPServer", 6)):
        match = re.search(ROW.format(label=label), out, re.M)
        assert match, out
        messages, rate, p50, p99, stored = (float(g) for g in match.groups()[:5])
        assert messages == expected and stored == expected  # every message stored before its ACK
        assert match.group(8) == f"AA {expected}"
        assert 0 < p50 <= p99 and rate > 0
        rows[label] = rate
    ratio = re.search(r"ratio rtletter / hl7apy \(msg/s\): (\d+\.\d) x", out)
    assert ratio, out
    printed = float(ratio.group(1))
    # the printed ratio is the ratio of the printed rates, up to their rounding to 0.1 msg/s
    assert abs(printed - rows["rtletter listener"] / rows["hl7apy MLLPServer"]) <= 0.05 + 0.05 * printed
    commits = re.search(r"group commit: (\d+) commits, (\d+\.\d) messages per commit", out)
    assert commits and 1 <= int(commits.group(1)) <= 24
    assert abs(24 / int(commits.group(1)) - float(commits.group(2))) <= 0.051
    goal = re.search(r"goal \(>= 1000 msg/s\): (\d+\.\d) msg/s -> (met|MISSED)", out)
    assert goal and float(goal.group(1)) == rows["rtletter listener"]
    assert (goal.group(2) == "met") == (rows["rtletter listener"] >= 1000)
