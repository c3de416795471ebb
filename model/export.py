"""Recipe: export a merged model, the LoRA adapter folded into the unquantised base, in bf16, for servers without
LoRA support (llama.cpp conversion, TGI without adapters, a plain ``vllm serve DIR``).

The adapter folder itself stays the default artefact: vLLM serves it beside the base (``--lora-modules``), several
adapter versions on one base. A merge always starts from the full-precision base, never from 4-bit weights (merging
into NF4 would round the adapter's update away). On CPU an 8B merge needs about 32 GB of memory (bf16 weights, loaded
once).

    rtletter model export --merged --adapter var/demo/adapter --out var/demo/merged
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rtletter.model.errors import ModelLoadError

EXPORT_CARD = "export_card.json"


def export_merged(adapter: Path, out: Path, *, base: Path | None = None, dtype: str = "bfloat16",
                  device: str = "cpu") -> dict[str, Any]:  # fmt: skip
    """Write ``base`` + ``adapter`` merged into one model folder at ``out`` (safetensors, tokenizer, card).

    Args:
        adapter: PEFT adapter folder.
        out: target folder (written as ``out.partial`` and renamed, so an interrupted export never looks complete).
        base: base folder (default: the one the adapter records).
        dtype: weight dtype of the export (``bfloat16``; ``float32`` for a tiny base's exact comparison).
        device: where the merge runs.

    Returns:
        The export card (also written to ``out/export_card.json``).

    Raises:
        ModelLoadError: a folder is missing or the adapter does not fit the base.
    """
    from rtletter.model.backends.adapters import adapter_base, adapter_rank, adapter_version, apply_adapter
    from rtletter.model.components.loading import load_causal_lm, load_tokenizer

    adapter, out = Path(adapter), Path(out)
    base = Path(base) if base is not None else adapter_base(adapter)
    if out.resolve() in (adapter.resolve(), base.resolve()):
        raise ModelLoadError(f"--out {out} must be a new folder, not the base or the adapter")
    tokenizer = load_tokenizer(base)
    model = load_causal_lm(base, quantization=None, dtype=dtype, device=device)  # never 4-bit: a lossless merge
    merged = apply_adapter(model, adapter, merge=True)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    merged.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    card = {
        "kind": "merged model (LoRA adapter folded into the base)",
        "base": str(base.resolve()),
        "adapter": adapter_version(adapter),
        "lora_rank": adapter_rank(adapter),
        "dtype": dtype,
        "parameters": sum(p.numel() for p in merged.parameters()),
    }
    (tmp / EXPORT_CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return card
