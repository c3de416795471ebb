"""bench/gpu must not rot: the run kit is prepared and its run.py runs bench_8b.py's tiny shape on CPU, importing
rtletter from the kit; every figure comes back as one JSON line; the ceiling counts the bytes a step really reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench import load_bench

GPU = Path(__file__).resolve().parents[2] / "bench" / "gpu"
BENCH = GPU / "bench_8b.py"


@pytest.mark.slow
def test_the_kit_runs_the_tiny_bench_in_one_call_with_its_own_rtletter(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    prepared = subprocess.run([sys.executable, str(GPU / "kit.py"), "--out", str(kit)], capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    manifest = json.loads((kit / "MANIFEST.json").read_text())
    assert "run.py" in manifest["files"] and "src/rtletter/model/finetune.py" in manifest["files"]
    assert "src/rtletter/model/configs/llama3_8b/qlora.yaml" in manifest["files"]
    assert not any(f.startswith("src/rtletter/agent") for f in manifest["files"])  # not the whole package

    result = subprocess.run([sys.executable, str(kit / "run.py"), "--tiny"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (out,) = (kit / "results").glob("bench-*.jsonl")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    env = lines[0]
    assert env["bench"] == "environment" and env["device"] == "CPU"
    assert env["rtletter_from"] == str((kit / "src" / "rtletter" / "model").resolve())
    assert env["libraries"]["torch"] != "not installed" and env["libraries"]["transformers"] != "not installed"
    figures = lines[1:]
    assert all(set(f) >= {"bench", "figure", "value"} for f in figures)
    train = {(f["tokens"], f["figure"]): f for f in figures if f["bench"] == "qlora train step"}
    assert {t for t, _ in train} == {64, 128} and train[(128, "tokens_per_second")]["value"] > 0
    step = train[(128, "step_seconds")]
    assert step["config"] == "model/configs/llama3_8b/qlora.yaml" and step["gradient_checkpointing"] is True
    assert step["optimizer"] == "adamw_torch" and step["autocast_bf16"] is False  # CPU: the GPU-only keys fall back
    assert "goal" in step and step["meets_goal"] is None  # no GPU: the goal is not judged
    generation = {(f["bench"], f["batch"], f["figure"]): f for f in figures if f["bench"].startswith("generate")}
    assert {(b, n) for b, n, _ in generation} == {("generate float32", 1), ("generate float32", 4),
                                                  ("generate nf4", 1), ("generate nf4", 4)}  # fmt: skip
    one = generation[("generate float32", 1, "tokens_per_second")]
    assert one["static_cache"] is True and one["new_tokens"] == 8 and one["prompt_tokens"] == [40]
    assert generation[("generate float32", 4, "tokens_per_second")]["prompt_tokens"] == [20, 33, 46, 60]
    nf4 = generation[("generate nf4", 1, "weights_gb")]["value"]
    assert nf4 < generation[("generate float32", 1, "weights_gb")]["value"]
    assert all(0 < f["value"] for f in figures if f["figure"] == "fraction_of_ceiling")
    assert "qlora train step" in result.stdout and "of ceiling" in result.stdout


def test_the_ceiling_counts_the_batchs_embedding_rows_and_the_kv_cache_not_the_whole_table() -> None:
    import torch
    from transformers import LlamaForCausalLM

    bench = load_bench(BENCH)
    shape = bench.TINY
    torch.manual_seed(0)
    model = LlamaForCausalLM(bench._config(shape))
    weights = bench.weight_bytes(model)
    table = shape.vocab_size * shape.hidden_size * 4
    head_dim = shape.hidden_size // shape.num_attention_heads
    kv_per_token = 2 * shape.num_hidden_layers * shape.num_key_value_heads * head_dim * 4
    got = bench.bytes_per_step(model, shape, batch=4, context=100.0, kv_bytes=4)
    assert got == weights - table + 4 * shape.hidden_size * 4 + kv_per_token * 100 * 4
    assert bench.bytes_per_step(model, shape, batch=1, context=0.0, kv_bytes=4) < weights  # the table is not read


def test_without_a_gpu_the_full_shape_refuses_clearly() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and "--tiny" in result.stderr and "Traceback" not in result.stderr
