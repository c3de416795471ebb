"""``rtletter model export --merged``: the adapter folded into a bf16 base computes like base + adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rtletter.model import load_local_backend


def _prompts(data: Path, n: int = 1) -> list[list[dict[str, str]]]:
    records = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    return [r["prompt"] for r in records[:n]]


def test_export_merged_writes_a_bf16_model_that_computes_like_base_plus_adapter(
    micro_base: Path, micro_adapter: Path, micro_data: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from typer.testing import CliRunner

    from rtletter.cli.model import model_app

    out = tmp_path / "merged"
    result = CliRunner().invoke(model_app, ["export", "--merged", "--adapter", str(micro_adapter), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "export_card.json").read_text())
    assert card["lora_rank"] == 16 and card["dtype"] == "bfloat16" and card["adapter"].startswith("letters@")
    assert not (out / "adapter_config.json").exists() and (out / "tokenizer.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert merged.dtype == torch.bfloat16
    assert not any("lora_" in name for name, _ in merged.named_parameters())

    unmerged: Any = load_local_backend(micro_base, micro_adapter)
    ids = torch.tensor([unmerged._prompt_ids(_prompts(micro_data, 1)[0])])
    with torch.no_grad():
        reference = unmerged.model(ids).logits.float()
        exported = merged(ids).logits.float()
        with unmerged.model.disable_adapter():
            plain = unmerged.model(ids).logits.float()
    # bf16 rounding is far smaller than what the adapter changes
    assert (exported - reference).abs().mean() < 0.2 * (plain - reference).abs().mean()
    assert (exported.argmax(-1) == reference.argmax(-1)).float().mean() > 0.9

    refused = CliRunner().invoke(model_app, ["export", "--adapter", str(micro_adapter), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--merged" in refused.output and not (tmp_path / "x").exists()
