"""Local generation: stops at <|eot_id|>, batched == unbatched, merged == unmerged, 4-bit, the generate command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rtletter.mappers.scaffold import letter_scaffold
from rtletter.model.errors import ModelLoadError
from rtletter.model.generate import adapter_base, load_generator
from rtletter.model.generator import Generator


def _prompts(data: Path, n: int = 3) -> list[list[dict[str, str]]]:
    records = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    prompts = [r["prompt"] for r in records[:n]]
    prompts.append([{"role": "user", "content": "Kurz: Ödem Grad 1."}])  # a much shorter prompt: left padding
    return prompts


def test_local_generator_implements_the_protocol(micro_base: Path) -> None:
    generator = load_generator(micro_base)
    assert isinstance(generator, Generator)
    assert generator.model_name == "base"


def test_generation_stops_at_eot(micro_base: Path, micro_data: Path) -> None:
    import torch

    generator: Any = load_generator(micro_base)
    prompt = _prompts(micro_data, 1)[:1]
    free = generator.generate(prompt, max_new_tokens=6)[0]
    assert free.completion_tokens == 6 and free.truncated  # cut at max_new_tokens: the draft is flagged
    # Make the model say <|eot_id|> exactly where it said its third token: swap the two rows of the output head.
    ids = generator._prompt_ids(prompt[0])
    with torch.no_grad():
        out = generator.model.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False, eos_token_id=None)
    first, second, third = out[0, len(ids) :].tolist()
    eot = generator.tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assume = {first, second}.isdisjoint({third, eot})
    if not assume:
        pytest.skip("the micro model's first tokens collide with the swapped ones")
    head = generator.model.lm_head.weight
    with torch.no_grad():
        head[[third, eot]] = head[[eot, third]]
    stopped = generator.generate(prompt, max_new_tokens=20)[0]
    assert stopped.completion_tokens == 3 and not stopped.truncated  # two tokens and the stop token
    assert stopped.text == generator.tokenizer.decode([first, second], skip_special_tokens=True).strip()
    assert "<|eot_id|>" not in stopped.text


def test_batched_greedy_equals_one_by_one(micro_base: Path, micro_adapter: Path, micro_data: Path) -> None:
    prompts = _prompts(micro_data)
    batched = load_generator(micro_base, micro_adapter, batch_size=8).generate(prompts, max_new_tokens=12)
    single = load_generator(micro_base, micro_adapter, batch_size=1)
    one_by_one = [single.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in one_by_one]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in one_by_one]
    assert all(g.completion_tokens > 0 and g.seconds > 0 for g in batched)


def test_merged_adapter_generates_like_unmerged(micro_base: Path, micro_adapter: Path, micro_data: Path) -> None:
    from peft import PeftModel

    prompts = _prompts(micro_data, 2)
    unmerged: Any = load_generator(micro_base, micro_adapter)
    merged: Any = load_generator(micro_base, micro_adapter, merge=True)
    assert isinstance(unmerged.model, PeftModel) and not isinstance(merged.model, PeftModel)
    assert [g.text for g in merged.generate(prompts, max_new_tokens=12)] == [
        g.text for g in unmerged.generate(prompts, max_new_tokens=12)
    ]
    assert unmerged.model_name.startswith("base+letters@")
    import torch  # the adapter does change the model: with it disabled the logits differ

    ids = torch.tensor([unmerged._prompt_ids(prompts[0])])
    with torch.no_grad(), unmerged.model.disable_adapter():
        plain = unmerged.model(ids).logits
    with torch.no_grad():
        adapted = unmerged.model(ids).logits
    assert not torch.allclose(plain, adapted)


def test_four_bit_base_with_adapter_generates(micro_base: Path, micro_adapter: Path, micro_data: Path) -> None:
    import bitsandbytes as bnb

    generator: Any = load_generator(micro_base, micro_adapter, quantization="nf4")
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in generator.model.modules())
    result = generator.generate(_prompts(micro_data, 1)[:1], max_new_tokens=5)[0]
    assert 0 < result.completion_tokens <= 5


def test_missing_folders_are_clear_errors(tmp_path: Path, micro_base: Path) -> None:
    with pytest.raises(ModelLoadError, match="tokenizer_config.json"):
        load_generator(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        load_generator(micro_base, tmp_path)
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        adapter_base(tmp_path)


def test_adapter_records_its_base(micro_base: Path, micro_adapter: Path) -> None:
    assert adapter_base(micro_adapter) == micro_base.resolve()


def test_generate_command_drafts_a_fhir_case_file(micro_adapter: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rtletter.demo.synth import generate_cohort
    from rtletter.model.cli import model_app

    patient = generate_cohort(1, 53, "de")[0]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(patient.bundle))
    out = tmp_path / "drafts"
    args = ["generate", str(bundle), "--adapter", str(micro_adapter), "--max-new-tokens", "8", "--out", str(out)]
    result = CliRunner().invoke(model_app, args)
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (out / "drafts.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["completion_tokens"] <= 8 and log[0]["prompt_tokens"] > 100
    (draft,) = out.glob("*.txt")
    # the model wrote a (short) body; the letter template wrote the rest around it
    head, tail = letter_scaffold(patient.case, letter_date=date.today())
    assert draft.read_text(encoding="utf-8").startswith(head + "\n\n")
    assert draft.read_text(encoding="utf-8").endswith("\n\n" + tail + "\n\n")
    assert log[0]["text"].startswith(head) and "truncated" in log[0]


def test_generate_command_bad_input_exits_2_with_one_line(tmp_path: Path, micro_base: Path) -> None:
    from typer.testing import CliRunner

    from rtletter.model.cli import model_app

    missing = CliRunner().invoke(model_app, ["generate", str(tmp_path / "none.json"), "--base", str(micro_base)])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "error:" in missing.output
    junk = tmp_path / "junk.json"
    junk.write_text("{not a bundle")
    bad = CliRunner().invoke(model_app, ["generate", str(junk), "--base", str(micro_base)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_export_merged_writes_a_bf16_model_that_computes_like_base_plus_adapter(
    micro_base: Path, micro_adapter: Path, micro_data: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from typer.testing import CliRunner

    from rtletter.model.cli import model_app

    out = tmp_path / "merged"
    result = CliRunner().invoke(model_app, ["export", "--merged", "--adapter", str(micro_adapter), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "export_card.json").read_text())
    assert card["lora_rank"] == 16 and card["dtype"] == "bfloat16" and card["adapter"].startswith("letters@")
    assert not (out / "adapter_config.json").exists() and (out / "tokenizer.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert merged.dtype == torch.bfloat16
    assert not any("lora_" in name for name, _ in merged.named_parameters())

    unmerged: Any = load_generator(micro_base, micro_adapter)
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
