"""Llama-3-8B on one GPU, no downloads: QLoRA training memory and speed, generation speed against the bandwidth ceiling.

    python bench/gpu/bench_8b.py                 # on a GPU machine; about 5-8 minutes; --json FILE for the numbers
    python bench/gpu/bench_8b.py --tiny          # same code, tiny shape, on CPU (the test that keeps it alive)

A Llama-3-8B-shaped model (vocab 128256, hidden 4096, 32 layers, GQA 32/8 heads, MLP 14336) with random weights is
written once as safetensors and loaded through the same ``load_causal_lm`` as a real Meta-Llama-3-8B-Instruct folder:
timing and memory do not depend on the values. Then:

1. QLoRA training step (NF4 + double quantisation, bf16 compute, LoRA r=16 on all linear layers, gradient
   checkpointing, paged 8-bit AdamW) at 2048 and 4096 tokens: peak GPU memory and tokens/s.
   Goal: peak <= 24 GB at 4096 tokens (the study needed a 48 GB card).
2. Generation (greedy, KV cache, fixed length) with bf16 and NF4 weights at batch 1 and 16: tokens/s next to the
   memory-bandwidth ceiling, i.e. bandwidth / bytes of weights read per decoding step (x batch for a batch).
   Goal: batch 1 reaches >= 50 % of its ceiling.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GB = 1e9
QLORA_PEAK_GOAL_GB = 24.0
BANDWIDTH_GOAL = 0.5
# Peak memory bandwidth from the vendors' data sheets, bytes/s; cards not listed use the measured copy bandwidth.
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
    prompt_tokens: int
    new_tokens: int


LLAMA3_8B = Shape(128256, 4096, 14336, 32, 32, 8, (2048, 4096), (1, 16), 128, 128)
TINY = Shape(512, 64, 128, 2, 4, 2, (64, 128), (1, 4), 16, 8)


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


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / GB if device.startswith("cuda") else None


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


def bandwidth(device: str) -> tuple[float, str]:
    """(bytes/s, source): the data-sheet figure for known cards, else a measured device-to-device copy."""
    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        for key, value in SPEC_BANDWIDTH.items():
            if key in name:
                return value, f"{name} data sheet"
    size = 1 << 30 if device.startswith("cuda") else 1 << 26
    source = torch.empty(size, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    _sync(device)
    started = time.perf_counter()
    for _ in range(5):
        target.copy_(source)
    _sync(device)
    measured = 2 * size * 5 / (time.perf_counter() - started)  # read + write
    return measured, "measured copy"


def bench_training(folder: Path, shape: Shape, device: str) -> list[dict[str, Any]]:
    """QLoRA steps at each training length: peak memory and tokens/s."""
    import torch

    from rtletter.model.components.loading import load_causal_lm
    from rtletter.model.components.peft_setup import attach_lora, lora_config

    on_gpu = device.startswith("cuda")
    dtype = "bfloat16" if on_gpu else "float32"
    model = load_causal_lm(folder, quantization="nf4", dtype=dtype, device=device)
    model = attach_lora(model, lora_config(16, 32, 0.05), quantized=True, gradient_checkpointing=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if on_gpu:
        import bitsandbytes as bnb

        optimizer: Any = bnb.optim.PagedAdamW8bit(params, lr=2e-4)
    else:
        optimizer = torch.optim.AdamW(params, lr=2e-4)
    rows = []
    for tokens in shape.train_tokens:
        ids = torch.randint(2, shape.vocab_size, (1, tokens), device=device)
        timings = []
        _peak_reset(device)
        for _ in range(3):  # the first step allocates the optimizer state and warms the kernels
            _sync(device)
            started = time.perf_counter()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            _sync(device)
            timings.append(time.perf_counter() - started)
        seconds = min(timings[1:])
        peak = _peak_gb(device)
        last = tokens == max(shape.train_tokens)
        rows.append({
            "bench": "qlora train step", "tokens": tokens, "tokens_per_second": tokens / seconds, "peak_gb": peak,
            "goal": f"peak <= {QLORA_PEAK_GOAL_GB:.0f} GB" if last else "",
            "meets_goal": (peak <= QLORA_PEAK_GOAL_GB) if peak is not None and last else None,
        })  # fmt: skip
    del model, optimizer
    _free(device)
    return rows


def bench_generation(folder: Path, shape: Shape, device: str, quantization: str | None,
                     ceiling_bandwidth: float) -> list[dict[str, Any]]:  # fmt: skip
    """Fixed-length greedy generation at each batch size, against the bandwidth ceiling."""
    import torch
    from transformers import GenerationConfig

    from rtletter.model.components.loading import load_causal_lm

    dtype = "bfloat16" if device.startswith("cuda") else "float32"
    model = load_causal_lm(folder, quantization=quantization, dtype=dtype, device=device)
    size = weight_bytes(model)
    config = GenerationConfig(max_new_tokens=shape.new_tokens, min_new_tokens=shape.new_tokens, do_sample=False,
                              eos_token_id=None, pad_token_id=0)  # fmt: skip
    rows = []
    for batch in shape.batches:
        ids = torch.randint(2, shape.vocab_size, (batch, shape.prompt_tokens), device=device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, generation_config=config)  # warm-up
            _sync(device)
            started = time.perf_counter()
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            _sync(device)
        seconds = time.perf_counter() - started
        generated = (out.shape[1] - shape.prompt_tokens) * batch
        speed = generated / seconds
        ceiling = ceiling_bandwidth / size * batch  # every decoding step reads all weights once, for the whole batch
        rows.append({
            "bench": f"generate {quantization or dtype}", "batch": batch, "tokens_per_second": speed,
            "weights_gb": size / GB, "ceiling_tokens_per_second": ceiling, "fraction_of_ceiling": speed / ceiling,
            "goal": f">= {BANDWIDTH_GOAL:.0%} of ceiling" if batch == 1 else "",
            "meets_goal": speed / ceiling >= BANDWIDTH_GOAL if batch == 1 else None,
        })  # fmt: skip
    del model
    _free(device)
    return rows


def print_rows(rows: list[dict[str, Any]], header: str) -> None:
    print(header)
    print(f"{'bench':<24} {'size':>10} {'tokens/s':>10} {'peak GB':>8} {'ceiling t/s':>12} {'of ceiling':>10}  goal")
    for row in rows:
        size = f"{row['tokens']} tok" if "tokens" in row else f"batch {row['batch']}"
        peak = f"{row['peak_gb']:.1f}" if row.get("peak_gb") is not None else "-"
        ceiling = f"{row['ceiling_tokens_per_second']:.1f}" if "ceiling_tokens_per_second" in row else "-"
        fraction = f"{row['fraction_of_ceiling']:.0%}" if "fraction_of_ceiling" in row else "-"
        verdict = {True: "met", False: "MISSED", None: ""}[row.get("meets_goal")]
        goal = f"{row['goal']} {verdict}".strip()
        print(f"{row['bench']:<24} {size:>10} {row['tokens_per_second']:>10.1f} {peak:>8} {ceiling:>12} "
              f"{fraction:>10}  {goal}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shape on CPU (for the test)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the random checkpoint goes (default: tmp)")
    parser.add_argument("--json", type=Path, default=None, help="also write every row as JSON")
    args = parser.parse_args(argv)

    import torch

    from rtletter.model.components.loading import set_offline

    set_offline()
    if not args.tiny and not torch.cuda.is_available():
        print("error: no CUDA GPU; use --tiny for the CPU shape", file=sys.stderr)
        return 2
    shape, device = (TINY, "cpu") if args.tiny else (LLAMA3_8B, "cuda")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = write_random_checkpoint(shape, Path(tmp) / "llama3-8b-random", device)
        speed, source = bandwidth(device)
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        rows = bench_training(folder, shape, device)
        for quantization in (None, "nf4"):
            rows += bench_generation(folder, shape, device, quantization, speed)
    print_rows(rows, f"{'tiny' if args.tiny else 'Llama-3-8B'} shape on {name}; bandwidth {speed / GB:.0f} GB/s "
                     f"({source}); {time.perf_counter() - started:.0f} s in all")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"device": name, "bandwidth_bytes_per_s": speed, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
