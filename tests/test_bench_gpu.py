"""bench/gpu/bench_8b.py must not rot: its --tiny shape runs the same code on CPU and reports every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gpu" / "bench_8b.py"


@pytest.mark.slow
def test_tiny_shape_runs_training_and_generation_rows(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--json", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    training = [r for r in rows if r["bench"] == "qlora train step"]
    assert [r["tokens"] for r in training] == [64, 128]
    generation = [(r["bench"], r["batch"]) for r in rows if r["bench"].startswith("generate")]
    assert generation == [("generate float32", 1), ("generate float32", 4), ("generate nf4", 1), ("generate nf4", 4)]
    assert all(r["tokens_per_second"] > 0 for r in rows)
    nf4 = next(r for r in rows if r["bench"] == "generate nf4")
    fp32 = next(r for r in rows if r["bench"] == "generate float32")
    assert nf4["weights_gb"] < fp32["weights_gb"]  # 4-bit weights are smaller: a higher bandwidth ceiling
    assert all(0 < r["fraction_of_ceiling"] for r in rows if "fraction_of_ceiling" in r)
    assert report["bandwidth_bytes_per_s"] > 0
    assert "qlora train step" in result.stdout and "of ceiling" in result.stdout


def test_without_a_gpu_the_full_shape_refuses_clearly() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and "--tiny" in result.stderr and "Traceback" not in result.stderr
