"""GPU memory per model and method, computed from parameter counts (no GPU needed): the sizing table of
docs/scaling.md, which tests/deploy/test_sizing.py keeps equal to this script's output.

    python bench/sizing.py            # the Markdown table
    python bench/sizing.py --check    # exit 1 when docs/scaling.md holds another table

Assumptions (also printed under the table):
- Parameters from the architecture (Llama: untied embedding and lm_head, GQA, SwiGLU MLP, RMSNorm).
- bf16 = 2 bytes/parameter. NF4 (bitsandbytes, double quantisation, block 64): 4 bits + 8-bit absmax per 64
  + fp32 second-level constant per 256 blocks = 4.127 bits on the linear layers; embedding, lm_head and norms
  stay bf16.
- LoRA r=16 on every linear layer of every block (q, k, v, o, gate, up, down), as model/configs/llama3_8b.
  Trainable parameters cost fp32 weight + fp32 gradient + optimizer state: AdamW 8 bytes (LoRA: 16 B/param),
  paged 8-bit AdamW 2 bytes (QLoRA: 10 B/param). Full fine-tuning: bf16 weight + fp32 master + fp32 gradient +
  AdamW = 16 B/param (mixed precision), activations as below.
- Training activations, batch 1, gradient checkpointing: every block's input kept (layers x tokens x hidden x 2 B),
  one block recomputed in backward with its gradients (~2 x tokens x (4 hidden + 2 kv + 3 intermediate) x 2 B),
  and the fp32 logits with their gradient (2 x tokens x vocab x 4 B).
- Inference: weights + KV cache of 2 (K, V) x layers x kv-heads x head-dim x 2 B per token for the given context.
- A card fits when the total is within 90 % of its memory.
- Plus 1.5 GB for the CUDA context, kernels and allocator slack, per GPU. Real peaks differ by a few GB (allocator
  fragmentation, attention kernels); bench/gpu/bench_8b.py measures the 8B QLoRA case on a real card.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

GB = 1e9
BF16 = 2.0
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)
OVERHEAD_GB = 1.5
LORA_RANK = 16
TRAIN_TOKENS = 4096
CONTEXT_TOKENS = 8192
USABLE = 0.9  # of a card's memory: vLLM's default --gpu-memory-utilization, and allocator headroom in training
CARDS_GB = (16, 24, 48, 80, 141)  # common card sizes: T4/A4000-class, 4090/A10/L4-class, A6000/L40S, A100/H100, H200
DOCS = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
BEGIN, END = "<!-- sizing:begin (bench/sizing.py) -->", "<!-- sizing:end -->"


@dataclass(frozen=True)
class Shape:
    name: str
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of every linear layer of one block."""
        h, i, kv = self.hidden, self.intermediate, self.kv_dim
        return [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]

    @property
    def block_linear_params(self) -> int:
        return sum(a * b for a, b in self.linear_shapes())

    @property
    def embedding_params(self) -> int:
        return 2 * self.vocab * self.hidden  # embedding + untied lm_head

    @property
    def params(self) -> int:
        norms = (2 * self.layers + 1) * self.hidden
        return self.layers * self.block_linear_params + self.embedding_params + norms

    @property
    def lora_params(self) -> int:
        return self.layers * sum(LORA_RANK * (a + b) for a, b in self.linear_shapes())


DEMO = Shape("demo base (model/configs/tiny/base.yaml)", 4096, 192, 512, 4, 4, 2)
MODELS = (
    Shape("Llama-3-8B", 128256, 4096, 14336, 32, 32, 8),
    Shape("Llama-3-70B", 128256, 8192, 28672, 80, 64, 8),
)


def weights_gb(shape: Shape, quantized: bool) -> float:
    linear = shape.layers * shape.block_linear_params
    rest = shape.params - linear
    per_linear = NF4_BITS / 8 if quantized else BF16
    return (linear * per_linear + rest * BF16) / GB


def activations_gb(shape: Shape, tokens: int) -> float:
    kept = shape.layers * tokens * shape.hidden * BF16
    block = 2 * tokens * (4 * shape.hidden + 2 * shape.kv_dim + 3 * shape.intermediate) * BF16
    logits = 2 * tokens * shape.vocab * 4
    return (kept + block + logits) / GB


def kv_gb(shape: Shape, tokens: int) -> float:
    return 2 * shape.layers * shape.kv_dim * BF16 * tokens / GB


@dataclass(frozen=True)
class Row:
    model: str
    params: int
    method: str
    weights: float
    other: float
    other_note: str

    @property
    def total(self) -> float:
        return self.weights + self.other + OVERHEAD_GB


def rows() -> list[Row]:
    out: list[Row] = []
    for shape in MODELS:
        act = activations_gb(shape, TRAIN_TOKENS)
        lora = shape.lora_params
        out += [
            Row(
                shape.name,
                shape.params,
                "inference bf16 (vLLM)",
                weights_gb(shape, False),
                kv_gb(shape, CONTEXT_TOKENS),
                f"KV cache, {CONTEXT_TOKENS} tokens",
            ),
            Row(
                shape.name,
                shape.params,
                "inference NF4",
                weights_gb(shape, True),
                kv_gb(shape, CONTEXT_TOKENS),
                f"KV cache, {CONTEXT_TOKENS} tokens",
            ),
            Row(
                shape.name,
                shape.params,
                f"QLoRA r={LORA_RANK}",
                weights_gb(shape, True),
                lora * 10 / GB + act,
                f"{lora / 1e6:.1f} M LoRA params x 10 B + activations",
            ),
            Row(
                shape.name,
                shape.params,
                f"LoRA r={LORA_RANK} (bf16 base)",
                weights_gb(shape, False),
                lora * 16 / GB + act,
                f"{lora / 1e6:.1f} M LoRA params x 16 B + activations",
            ),
            Row(
                shape.name,
                shape.params,
                "full fine-tune (AdamW)",
                weights_gb(shape, False),
                shape.params * 14 / GB + act,
                "master + grads + AdamW 14 B/param + activations",
            ),
        ]
    return out


def _smallest_card(total: float) -> str:
    for card in CARDS_GB:
        if total <= card * USABLE:
            return f"1 x {card} GB"
    for gpus in (2, 4, 8):  # sharded (FSDP / tensor parallel): the overhead is per GPU
        if total + OVERHEAD_GB * (gpus - 1) <= gpus * CARDS_GB[-2] * USABLE:
            return f"{gpus} x {CARDS_GB[-2]} GB (sharded)"
    return "more than 8 x 80 GB"


def _size(value: float) -> str:
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def table() -> str:
    lines = [
        f"Batch 1; training at {TRAIN_TOKENS} tokens with gradient checkpointing; inference with one "
        f"{CONTEXT_TOKENS}-token sequence; + {OVERHEAD_GB} GB per GPU for CUDA context and slack; a card counts as "
        f"fitting when the total is within {USABLE:.0%} of its memory. GB = 10^9 bytes. The {DEMO.name} has "
        f"{DEMO.params / 1e6:.1f} M parameters ({weights_gb(DEMO, False) * 1000:.0f} MB in bf16) and runs on the CPU.",
        "",
        "| model | parameters | method | weights GB | other GB | of which | total GB | smallest fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows():
        params = f"{row.params / 1e9:.2f} B" if row.params >= 1e8 else f"{row.params / 1e6:.1f} M"
        lines.append(
            f"| {row.model} | {params} | {row.method} | {_size(row.weights)} | {_size(row.other)} | {row.other_note} "
            f"| {_size(row.total)} | {_smallest_card(row.total)} |"
        )
    return "\n".join(lines)


def block() -> str:
    return f"{BEGIN}\n{table()}\n{END}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the table in docs/scaling.md")
    args = parser.parse_args(argv)
    if not args.check:
        print(table())
        return 0
    text = DOCS.read_text(encoding="utf-8")
    if block() not in text:
        print(f"{DOCS} holds another sizing table: paste the output of `python bench/sizing.py` between the markers")
        return 1
    print("docs/scaling.md sizing table is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
