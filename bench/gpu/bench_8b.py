"""Llama-3-8B on one GPU, no downloads: the fine-tune's own QLoRA step, and generation against the bandwidth ceiling.

    python bench/gpu/bench_8b.py --json out.jsonl     # on a GPU machine; under 10 minutes
    python bench/gpu/bench_8b.py --tiny               # same code, tiny shape, on CPU (the test that keeps it alive)
    python bench/gpu/kit.py --out DIR                 # the same bench as a kit for an offline GPU host (README.md)

A Llama-3-8B-shaped model (vocab 128256, hidden 4096, 32 layers, GQA 32/8 heads, MLP 14336) with random weights is
written once as safetensors and loaded through the same ``load_causal_lm`` as a real Meta-Llama-3-8B-Instruct folder:
timing and memory do not depend on the values. Then:

1. The fine-tune's training step: ``FinetuneRecipe`` with ``model/configs/llama3_8b/qlora.yaml`` as it ships (NF4 +
   double quantisation, bf16 autocast, LoRA r=16 on all linear layers, gradient checkpointing, paged 8-bit AdamW,
   the HF Trainer) at 2,048 and 4,096 tokens; only ``grad_accum`` is 1 so that each timed step is one sequence.
   Peak memory as NVML device memory used (sampled every 20 ms: CUDA context, allocator reserve and the paged
   optimizer's managed memory included) and as torch's peak reserved memory; step time and tokens/s.
   Goal: peak <= 24 GB at 4,096 tokens (stretch 16 GB).
2. Generation (greedy, static KV cache, ``torch.compile`` where it works) of 600-token letters after realistic
   prompts (2,000 tokens at batch 1; 1,000-3,000 tokens, left-padded, at batch 16) with bf16 and NF4 weights:
   tokens/s next to the bandwidth ceiling = bandwidth / bytes read per decoding step (every weight once, but only
   the batch's rows of the embedding table, plus the KV cache of the context so far, averaged over the letter).
   Goal: batch 1 in bf16 reaches >= 50 % of its ceiling.

Output: one JSON object per line and per figure (``--json``), the environment (GPU, driver, library versions) first.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GB = 1e9
QLORA_PEAK_GOAL_GB = 24.0
QLORA_PEAK_STRETCH_GB = 16.0
BANDWIDTH_GOAL = 0.5
ROOT = Path(__file__).resolve().parents[2]
# Peak memory bandwidth from the vendors' data sheets, bytes/s; other cards: NVML's memory clock x bus width.
SPEC_BANDWIDTH = {
    "H200": 4.8e12,
    "H100 80GB HBM3": 3.35e12,  # SXM
    "H100 PCIe": 2.0e12,
    "H100 NVL": 3.9e12,
    "A100-SXM4-80GB": 2.039e12,
    "A100 80GB PCIe": 1.935e12,
    "A100-SXM4-40GB": 1.555e12,
    "L40S": 0.864e12,
    "RTX 4090": 1.008e12,
    "A10": 0.6e12,
}


@dataclass(frozen=True)
class Shape:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    train_tokens: tuple[int, ...]
    batches: tuple[int, ...]
    prompt_tokens: tuple[int, int]  # (shortest, longest); batch 1 takes the middle
    new_tokens: int


LLAMA3_8B = Shape(128256, 4096, 14336, 32, 32, 8, (2048, 4096), (1, 16), (1000, 3000), 600)
TINY = Shape(512, 64, 128, 2, 4, 2, (64, 128), (1, 4), (20, 60), 8)


def _config(shape: Shape) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=1,
    )


def write_random_checkpoint(shape: Shape, folder: Path, device: str) -> Path:
    """A Llama folder with random bf16 weights (built on ``device`` for speed, then saved as safetensors)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 directly: an fp32 8B would take 32 GB first
    try:
        with torch.device(device):
            model = LlamaForCausalLM(_config(shape))
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(folder)
    del model
    _free(device)
    return folder


def _free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


class NvmlPeak:
    """Peak device memory used as NVML reports it (what nvidia-smi shows), sampled in a thread every 20 ms.

    Includes the CUDA context, the caching allocator's reserve and the paged optimizer's managed memory, which
    ``max_memory_allocated`` leaves out. None where NVML is absent (CPU, or no ``pynvml`` on the host).
    """

    def __init__(self, device: str) -> None:
        self.handle: Any = None
        self.peak = 0
        self._stop = threading.Event()
        if not device.startswith("cuda"):
            return
        try:
            import pynvml  # nvidia-ml-py; torch's CUDA wheels depend on it
            import torch

            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
            self.used = lambda: int(pynvml.nvmlDeviceGetMemoryInfo(self.handle).used)
        except Exception:  # noqa: BLE001 (no NVML: the figure is left out, the bench goes on)
            self.handle = None

    def __enter__(self) -> NvmlPeak:
        if self.handle is not None:
            self.peak = self.used()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.used())

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self._stop.set()
            self.thread.join()
            self.peak = max(self.peak, self.used())

    @property
    def gb(self) -> float | None:
        return self.peak / GB if self.handle is not None else None


def weight_bytes(model: Any) -> int:
    """Bytes of parameters and buffers as stored (4-bit weights count as their packed bytes plus quant state)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    for module in model.modules():  # bitsandbytes keeps the NF4 scales (absmax) in the weight's quant_state
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is not None:
            total += state.absmax.numel() * state.absmax.element_size()
            if getattr(state, "state2", None) is not None:
                total += state.state2.absmax.numel() * state.state2.absmax.element_size()
    return int(total)


def bytes_per_step(model: Any, shape: Shape, batch: int, context: float, kv_bytes: int = 2) -> float:
    """Bytes one decoding step must read: every weight once, except the embedding table (only the batch's rows are
    looked up), plus each sequence's K and V cache of ``context`` tokens."""
    embedding = model.get_input_embeddings().weight
    table = embedding.numel() * embedding.element_size()
    rows = batch * shape.hidden_size * embedding.element_size()
    head_dim = shape.hidden_size // shape.num_attention_heads
    kv = 2 * shape.num_hidden_layers * shape.num_key_value_heads * head_dim * kv_bytes * context * batch
    return weight_bytes(model) - table + rows + kv


def bandwidth(device: str) -> tuple[float, str]:
    """(bytes/s, source): the data-sheet figure for known cards, NVML's clock x bus width, else a measured copy."""
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        for key, value in SPEC_BANDWIDTH.items():
            if key in name:
                return value, f"{name} data sheet"
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
            clock = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM) * 1e6
            width = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
            return 2 * clock * width / 8, "NVML memory clock x bus width"
        except Exception:  # noqa: BLE001 (no NVML: measure instead)
            pass
    size = 1 << 30 if device.startswith("cuda") else 1 << 26
    source = torch.empty(size, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    _sync(device)
    started = time.perf_counter()
    for _ in range(5):
        target.copy_(source)
    _sync(device)
    return 2 * size * 5 / (time.perf_counter() - started), "measured copy"  # read + write


def training_config(tokens: int, steps: int, device: str) -> tuple[Any, list[str]]:
    """``configs/llama3_8b/qlora.yaml`` as it ships, with the bench's length and steps; on CPU the keys that need a
    GPU fall back as ``qlora_cpu.yaml`` does. Returns the config and the overrides (recorded beside the figures)."""
    from rtletter.model.components.config import load_config
    from rtletter.model.finetune import FinetuneConfig

    overrides = [f"max_length={tokens}", f"max_steps={steps}", "grad_accum=1", "warmup=0", "logging_steps=1000",
                 "save_steps=1000000", "eval_steps=1000000", "max_eval_examples=0"]  # fmt: skip
    if not device.startswith("cuda"):
        overrides += ["device=cpu", "dtype=float32", "optimizer=adamw_torch"]
    return load_config(FinetuneConfig, ROOT / "model" / "configs" / "llama3_8b" / "qlora.yaml", overrides), overrides


def bench_training(folder: Path, shape: Shape, device: str, workdir: Path, steps: int = 4) -> list[dict[str, Any]]:
    """The fine-tune's QLoRA step (``FinetuneRecipe.train``: the Trainer, its autocast, optimizer and clipping)."""
    import torch
    from transformers import TrainerCallback

    from rtletter.model.finetune import FinetuneRecipe

    class StepTimes(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            _sync(device)
            self.started = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            _sync(device)
            self.seconds.append(time.perf_counter() - self.started)

    rows = []
    for tokens in shape.train_tokens:
        config, overrides = training_config(tokens, steps, device)
        timer = StepTimes()
        recipe = FinetuneRecipe(config, folder, workdir, workdir / f"adapter-{tokens}", callbacks=[timer])
        recipe.prepare_device()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        with NvmlPeak(device) as nvml:
            recipe.load_model()
            recipe.tokenizer = type("Pad", (), {"pad_token_id": 0})()
            generator = torch.Generator().manual_seed(tokens)
            ids = [torch.randint(2, shape.vocab_size, (tokens,), generator=generator).tolist() for _ in range(steps)]
            recipe.train_set = [{"input_ids": x, "labels": x} for x in ids]
            recipe.eval_set = []
            recipe.train()
        seconds = sorted(timer.seconds[1:])[len(timer.seconds[1:]) // 2]  # median after the first step (warm-up)
        reserved = torch.cuda.max_memory_reserved() / GB if device.startswith("cuda") else None
        row: dict[str, Any] = {
            "bench": "qlora train step", "tokens": tokens, "step_seconds": seconds,
            "tokens_per_second": tokens / seconds,
            "peak_nvml_gb": nvml.gb, "peak_reserved_gb": reserved, "config": "model/configs/llama3_8b/qlora.yaml",
            "overrides": overrides, "autocast_bf16": bool(recipe.trainer.args.bf16),
            "optimizer": recipe.trainer.args.optim.value if hasattr(recipe.trainer.args.optim, "value")
            else str(recipe.trainer.args.optim),
            "gradient_checkpointing": recipe.gradient_checkpointing,
        }  # fmt: skip
        if tokens == max(shape.train_tokens):
            peak = nvml.gb if nvml.gb is not None else reserved
            row["goal"] = f"peak <= {QLORA_PEAK_GOAL_GB:.0f} GB (stretch {QLORA_PEAK_STRETCH_GB:.0f} GB)"
            row["meets_goal"] = None if peak is None else peak <= QLORA_PEAK_GOAL_GB
            row["meets_stretch"] = None if peak is None else peak <= QLORA_PEAK_STRETCH_GB
        rows.append(row)
        del recipe
        _free(device)
    return rows


def _prompts(shape: Shape, batch: int, device: str) -> tuple[Any, Any, list[int]]:
    """Left-padded random prompts: batch 1 the middle length, a batch spread evenly over (shortest, longest)."""
    import torch

    low, high = shape.prompt_tokens
    lengths = [(low + high) // 2] if batch == 1 else [low + (high - low) * i // (batch - 1) for i in range(batch)]
    width = max(lengths)
    generator = torch.Generator().manual_seed(batch)
    ids = torch.zeros((batch, width), dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, width - length :] = torch.randint(2, shape.vocab_size, (length,), generator=generator)
        mask[row, width - length :] = 1
    return ids.to(device), mask.to(device), lengths


def _generate(model: Any, ids: Any, mask: Any, config: Any) -> Any:
    import torch

    with torch.inference_mode():
        return model.generate(input_ids=ids, attention_mask=mask, generation_config=config)


def bench_generation(folder: Path, shape: Shape, device: str, quantization: str | None, ceiling_bandwidth: float,
                     compile_: bool) -> list[dict[str, Any]]:  # fmt: skip
    """600-token letters after realistic prompts, static cache (compiled where it works), against the ceiling."""
    from transformers import GenerationConfig

    from rtletter.model.components.loading import load_causal_lm

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    model = load_causal_lm(folder, quantization=quantization, dtype=dtype, device=device)
    rows = []
    for batch in shape.batches:
        ids, mask, lengths = _prompts(shape, batch, device)
        config = GenerationConfig(max_new_tokens=shape.new_tokens, min_new_tokens=shape.new_tokens, do_sample=False,
                                  eos_token_id=None, pad_token_id=0, cache_implementation="static")  # fmt: skip
        compiled, note = False, ""
        if compile_:
            config.compile_config = None  # transformers' default: compile the decoding step with a static cache
        else:
            config.disable_compile = True

        try:
            _generate(model, ids, mask, config)  # warm-up: compiles, allocates the static cache
            compiled = compile_
        except Exception as exc:  # noqa: BLE001 (a compile failure falls back to eager, and says so)
            note = f"compile failed ({exc.__class__.__name__}); eager"
            config.disable_compile = True
            _generate(model, ids, mask, config)
        _sync(device)
        started = time.perf_counter()
        out = _generate(model, ids, mask, config)
        _sync(device)
        seconds = time.perf_counter() - started
        generated = (out.shape[1] - ids.shape[1]) * batch
        speed = generated / seconds
        context = ids.shape[1] + shape.new_tokens / 2  # padded width read per step, averaged over the letter
        kv_bytes = 2 if dtype == "bfloat16" else 4
        step_bytes = bytes_per_step(model, shape, batch, context, kv_bytes)
        ceiling = ceiling_bandwidth / step_bytes * batch
        row: dict[str, Any] = {
            "bench": f"generate {quantization or dtype}", "batch": batch, "prompt_tokens": lengths,
            "new_tokens": shape.new_tokens, "tokens_per_second": speed, "seconds": seconds,
            "weights_gb": weight_bytes(model) / GB, "bytes_per_step_gb": step_bytes / GB,
            "ceiling_tokens_per_second": ceiling, "fraction_of_ceiling": speed / ceiling,
            "static_cache": True, "compiled": compiled, "note": note,
        }  # fmt: skip
        if batch == 1 and quantization is None:
            row["goal"] = f">= {BANDWIDTH_GOAL:.0%} of ceiling"
            row["meets_goal"] = speed / ceiling >= BANDWIDTH_GOAL if device.startswith("cuda") else None
        rows.append(row)
    del model
    _free(device)
    return rows


def environment(device: str, bandwidth_bytes: float, source: str) -> dict[str, Any]:
    """GPU, driver and the versions of the host's libraries, recorded beside the figures."""
    import importlib.metadata

    import torch

    versions = {}
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "pydantic", "rtletter"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    import rtletter.model

    env: dict[str, Any] = {
        "bench": "environment", "device": torch.cuda.get_device_name() if device.startswith("cuda") else "CPU",
        "cuda": torch.version.cuda, "python": platform.python_version(), "libraries": versions,
        "rtletter_from": str(Path(rtletter.model.__file__).resolve().parent), "bandwidth_bytes_per_s": bandwidth_bytes,
        "bandwidth_source": source, "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    if device.startswith("cuda"):
        env["gpu_memory_gb"] = torch.cuda.get_device_properties(0).total_memory / GB
        try:
            import pynvml

            pynvml.nvmlInit()
            env["driver"] = pynvml.nvmlSystemGetDriverVersion()
        except Exception:  # noqa: BLE001
            env["driver"] = "unknown"
    return env


FIGURES = ("step_seconds", "tokens_per_second", "peak_nvml_gb", "peak_reserved_gb", "ceiling_tokens_per_second",
           "fraction_of_ceiling", "weights_gb", "bytes_per_step_gb")  # fmt: skip


def figure_lines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One JSON object per figure: the row's context (bench, size, goal) with ``figure`` and ``value``."""
    lines = []
    for row in rows:
        context = {k: v for k, v in row.items() if k not in FIGURES}
        if row["bench"] == "environment":
            lines.append(context)
            continue
        for name in FIGURES:
            if name in row and row[name] is not None:
                lines.append({**context, "figure": name, "value": row[name]})
    return lines


def print_rows(rows: list[dict[str, Any]], header: str) -> None:
    print(header)
    print(f"{'bench':<24} {'size':>10} {'tokens/s':>10} {'NVML GB':>8} {'rsrv GB':>8} {'ceiling t/s':>12} "
          f"{'of ceiling':>10}  goal")  # fmt: skip
    for row in rows:
        if row["bench"] == "environment":
            continue
        size = f"{row['tokens']} tok" if "tokens" in row else f"batch {row['batch']}"
        nvml = f"{row['peak_nvml_gb']:.1f}" if row.get("peak_nvml_gb") is not None else "-"
        reserved = f"{row['peak_reserved_gb']:.1f}" if row.get("peak_reserved_gb") is not None else "-"
        ceiling = f"{row['ceiling_tokens_per_second']:.1f}" if "ceiling_tokens_per_second" in row else "-"
        fraction = f"{row['fraction_of_ceiling']:.0%}" if "fraction_of_ceiling" in row else "-"
        verdict = {True: "met", False: "MISSED", None: "not judged" if row.get("goal") else ""}[row.get("meets_goal")]
        goal = f"{row.get('goal', '')} {verdict}".strip()
        print(f"{row['bench']:<24} {size:>10} {row['tokens_per_second']:>10.1f} {nvml:>8} {reserved:>8} "
              f"{ceiling:>12} {fraction:>10}  {goal}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shape on CPU (for the test)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the random checkpoint goes (default: tmp)")
    parser.add_argument("--json", type=Path, default=None, help="write one JSON object per figure and line")
    parser.add_argument("--no-compile", action="store_true", help="eager decoding (static cache all the same)")
    parser.add_argument("--skip", choices=["train", "generate"], action="append", default=[], help="leave a part out")
    args = parser.parse_args(argv)

    import torch

    from rtletter.model.components.loading import set_offline

    set_offline()
    if not args.tiny and not torch.cuda.is_available():
        print("error: no CUDA GPU; use --tiny for the CPU shape", file=sys.stderr)
        return 2
    shape, device = (TINY, "cpu") if args.tiny else (LLAMA3_8B, "cuda")
    if args.tiny:
        torch.set_num_threads(2)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = write_random_checkpoint(shape, Path(tmp) / "llama3-8b-random", device)
        speed, source = bandwidth(device)
        rows = [environment(device, speed, source)]
        if "train" not in args.skip:
            rows += bench_training(folder, shape, device, Path(tmp))
        if "generate" not in args.skip:
            for quantization in (None, "nf4"):
                rows += bench_generation(folder, shape, device, quantization, speed, not (args.no_compile or args.tiny))
    rows[0]["wall_seconds"] = time.perf_counter() - started
    print_rows(rows, f"{'tiny' if args.tiny else 'Llama-3-8B'} shape on {rows[0]['device']}; bandwidth "
                     f"{speed / GB:.0f} GB/s ({source}); {rows[0]['wall_seconds']:.0f} s in all")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text("".join(json.dumps(line) + "\n" for line in figure_lines(rows)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
