"""Local backend speed on CPU: tokens/s for fp32 and 4-bit NF4 weights, adapter merged vs unmerged, the batched
speed-up (batch 1 vs batch 8) and what the fact-slot constraint costs, side by side in one run.

    .venv/bin/python bench/generate.py                          # the demo base (var/demo/base, built if missing)
    .venv/bin/python bench/generate.py --base DIR --adapter DIR
    .venv/bin/python bench/generate.py --quick                  # micro base, few tokens: the test that keeps it alive

Every row drafts the same prompts (synthetic cases, German) through ``LocalBackend`` with stopping switched off,
so each row generates exactly ``--new-tokens`` tokens per prompt; tokens/s = generated tokens / wall time. Without
``--adapter`` a LoRA adapter with random (non-zero) weights on all linear layers is made: speed does not depend on
the values. Rows alternate over ``--repeats`` rounds and the median is kept, so that load from other processes hits
all rows alike. The two slot rows draft prompts that list fact slots (longer prompts than the other rows), once with
the constrained decoding of ``model/backends/slot_constraint.py`` and once without: their ratio is its cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_BASE = ROOT / "var" / "demo" / "base"
MICRO_CONFIG = ROOT / "model" / "configs" / "tiny" / "micro.yaml"
PROMPT_SEED = 101
SLOTS_FREE = "slot prompts, unconstrained, batched"
SLOTS_ON = "slot prompts, constrained, batched"


def _prompts(n: int, slots: bool = False) -> list[list[dict[str, str]]]:
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.prompt import build_messages

    return [list(build_messages(item.case, slots=slots)) for item in synthesize(n, PROMPT_SEED, "de")]


def _random_adapter(base: Path, folder: Path) -> Path:
    """A LoRA adapter (r=16, all linear layers) with random weights, in PEFT's format."""
    import torch
    from peft import get_peft_model

    from rtletter.model.components.loading import load_causal_lm
    from rtletter.model.components.peft_setup import lora_config

    torch.manual_seed(0)
    config = lora_config(16, 32, 0.0)
    config.init_lora_weights = False  # random A and B: a merge then really changes the weights
    get_peft_model(load_causal_lm(base, device="cpu"), config).save_pretrained(folder)
    return folder


def _generator(
    base: Path, adapter: Path | None, *, quantization: str | None, merge: bool, batch: int, constrain: bool = True
) -> Any:
    from rtletter.model import load_local_backend

    generator: Any = load_local_backend(
        base, adapter, quantization=quantization, merge=merge, device="cpu", batch_size=batch
    )
    generator.constrain_slots = constrain
    generator.stop_ids = []  # fixed-length outputs: every row generates the same number of tokens
    return generator


def _measure(generator: Any, prompts: list[list[dict[str, str]]], new_tokens: int) -> float:
    started = time.perf_counter()
    results = generator.generate(prompts, max_new_tokens=new_tokens)
    seconds = time.perf_counter() - started
    return sum(r.completion_tokens for r in results) / seconds


def run(
    base: Path, adapter: Path | None, *, new_tokens: int, prompts_n: int, batch: int, repeats: int, threads: int
) -> list[dict[str, Any]]:
    """Measure every row; returns one dict per row (name, tokens_per_second, batch)."""
    import torch

    torch.set_num_threads(threads)
    prompts = _prompts(prompts_n)
    slotted = _prompts(prompts_n, slots=True)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = adapter or _random_adapter(base, Path(tmp) / "adapter")
        rows: dict[str, tuple[Any, int]] = {
            "fp32 base": (_generator(base, None, quantization=None, merge=False, batch=1), 1),
            "nf4 base": (_generator(base, None, quantization="nf4", merge=False, batch=1), 1),
            "fp32 + adapter, unmerged": (_generator(base, adapter, quantization=None, merge=False, batch=1), 1),
            "fp32 + adapter, merged": (_generator(base, adapter, quantization=None, merge=True, batch=1), 1),
            "nf4 + adapter, unmerged": (_generator(base, adapter, quantization="nf4", merge=False, batch=1), 1),
            f"fp32 + adapter, merged, batch {batch}": (
                _generator(base, adapter, quantization=None, merge=True, batch=batch),
                batch,
            ),
            SLOTS_FREE: (_generator(base, adapter, quantization=None, merge=True, batch=batch, constrain=False), batch),
            SLOTS_ON: (_generator(base, adapter, quantization=None, merge=True, batch=batch), batch),
        }
        for generator, _ in rows.values():  # warm-up: first calls allocate and pick kernels
            generator.generate(prompts[:1], max_new_tokens=2)
        samples: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(repeats):
            for name, (generator, _) in rows.items():
                samples[name].append(_measure(generator, slotted if name in (SLOTS_FREE, SLOTS_ON) else prompts,
                                              new_tokens))  # fmt: skip
    return [
        {"name": name, "batch": size, "tokens_per_second": statistics.median(samples[name])}
        for name, (_, size) in rows.items()
    ]


def report(rows: list[dict[str, Any]], write: Callable[[str], object] = print) -> None:
    """Print the rows with the ratios that matter next to each other."""
    speed = {row["name"]: row["tokens_per_second"] for row in rows}
    reference = speed["fp32 base"]
    write(f"{'row':<40} {'batch':>5} {'tokens/s':>10} {'vs fp32 base':>13}")
    for row in rows:
        ratio = row["tokens_per_second"] / reference if reference else 0.0
        write(f"{row['name']:<40} {row['batch']:>5} {row['tokens_per_second']:>10.1f} {ratio:>12.2f}x")
    batched = next(r for r in rows if r["batch"] > 1)
    merged = speed["fp32 + adapter, merged"]
    write(f"merged / unmerged adapter: {merged / speed['fp32 + adapter, unmerged']:.2f}x")
    write(f"nf4 / fp32 (base): {speed['nf4 base'] / reference:.2f}x")
    write(f"batched speed-up (batch {batched['batch']} vs 1, merged): {batched['tokens_per_second'] / merged:.2f}x")
    write(f"fact-slot constraint on / off (slot prompts, batched): {speed[SLOTS_ON] / speed[SLOTS_FREE]:.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=None, help="base folder (default: var/demo/base)")
    parser.add_argument("--adapter", type=Path, default=None, help="adapter folder (default: random LoRA)")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per row")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="micro base, 4 tokens, 1 round")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    from rtletter.demo.base_model import build_base
    from rtletter.model.components.loading import set_offline

    set_offline()
    if args.quick:
        work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
        base = build_base(work / "base", MICRO_CONFIG)
        args.new_tokens, args.prompts, args.batch, args.repeats = 4, 4, 4, 1
    else:
        base = args.base or build_base(DEMO_BASE)
    rows = run(base, args.adapter, new_tokens=args.new_tokens, prompts_n=args.prompts, batch=args.batch,
               repeats=args.repeats, threads=args.threads)  # fmt: skip
    print(f"local backend on CPU ({args.threads} threads), base {base}, {args.prompts} prompts x "
          f"{args.new_tokens} new tokens, median of {args.repeats}")  # fmt: skip
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
