"""Fine-tuning: letter-only loss, LoRA and QLoRA (4-bit on CPU) lower the loss, adapter/PNG/run card, --resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from rtletter.model.components.collate import IGNORE_INDEX, CompletionCollator, tokenize_example
from rtletter.model.errors import DatasetError, RecipeConfigError
from rtletter.model.finetune import FinetuneConfig, FinetuneRecipe, finetune, length_note, read_split

from .conftest import QUICK

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _first_record(data: Path) -> dict[str, Any]:
    return json.loads((data / "train.jsonl").read_text().splitlines()[0])


def test_labels_are_ignored_on_every_prompt_token(micro_base: Path, micro_data: Path) -> None:
    from rtletter.model.components.loading import load_tokenizer

    tokenizer = load_tokenizer(micro_base)
    record = _first_record(micro_data)
    example = tokenize_example(tokenizer, record["prompt"], record["completion"], max_length=8192)
    prompt_ids = tokenizer.apply_chat_template(record["prompt"], add_generation_prompt=True, return_dict=True)
    n = len(prompt_ids["input_ids"])
    assert example.input_ids[:n] == list(prompt_ids["input_ids"])
    assert all(label == IGNORE_INDEX for label in example.labels[:n])
    assert example.labels[n:] == example.input_ids[n:]  # every letter token is learned ...
    assert (
        tokenizer.decode(example.labels[n:]) == record["completion"][0]["content"].strip() + "<|eot_id|>"
    )  # ... +stop
    assert example.notes_cut == 0 and not example.dropped


def test_collator_pads_right_with_ignored_labels() -> None:
    batch = CompletionCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def _with_notes(record: dict[str, Any], count: int) -> dict[str, Any]:
    """The record with ``count`` long quoted notes in its prompt (synthetic cases have none)."""
    from datetime import date

    from rtletter.mappers.case import Case, Note
    from rtletter.mappers.prompt import build_messages

    case = Case.model_validate(record["case"])
    notes = [Note(text=f"Notiz {i}: " + "Verlauf unauffällig, Haut intakt. " * 20, written=date(2026, 1, i + 1))
             for i in range(count)]  # fmt: skip
    prompt = [dict(m) for m in build_messages(case.model_copy(update={"notes": notes}), max_tokens=100_000)]
    return {**record, "prompt": prompt}


def test_over_length_example_loses_notes_never_its_letter_or_end_of_turn(micro_base: Path, micro_data: Path) -> None:
    from rtletter.model.components.loading import load_tokenizer

    tokenizer = load_tokenizer(micro_base)
    record = _with_notes(_first_record(micro_data), 3)
    full = tokenize_example(tokenizer, record["prompt"], record["completion"], max_length=100_000)
    assert full.notes_cut == 0 and not full.dropped
    limit = len(full.input_ids) - 1  # one token too long: the oldest note must go, and only that one
    example = tokenize_example(tokenizer, record["prompt"], record["completion"], max_length=limit)
    assert example.notes_cut == 1 and not example.dropped and len(example.input_ids) <= limit
    letter = [label for label in example.labels if label != IGNORE_INDEX]
    assert letter == [label for label in full.labels if label != IGNORE_INDEX]  # the whole letter is learned
    assert tokenizer.decode(letter).endswith("<|eot_id|>")
    prompt_text = tokenizer.decode(example.input_ids)
    assert "Notiz 0:" not in prompt_text and "Notiz 1:" in prompt_text and "Notiz 2:" in prompt_text


def test_example_too_long_even_without_notes_is_dropped(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    from rtletter.model.components.loading import load_tokenizer

    record = _with_notes(_first_record(micro_data), 2)
    example = tokenize_example(load_tokenizer(micro_base), record["prompt"], record["completion"], max_length=64)
    assert example.dropped and example.notes_cut == 2 and example.input_ids == [] == example.labels
    recipe = FinetuneRecipe(FinetuneConfig(max_length=64), micro_base, micro_data, tmp_path / "out")
    with pytest.raises(DatasetError, match="longer than max_length=64"):
        recipe.setup()  # every example dropped: a clear error before the model is loaded


def test_keep_best_needs_saves_at_eval_steps(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeConfigError, match=r"save_steps \(3\) must be a multiple of eval_steps \(2\)"):
        finetune(micro_base, micro_data, tmp_path / "out", overrides=[*QUICK, "save_steps=3"])


def test_lora_finetune_lowers_loss_and_writes_a_peft_adapter(micro_base: Path, micro_adapter: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    card = json.loads((micro_adapter / "run_card.json").read_text())
    metrics = card["metrics"]
    assert card["method"] == "lora"
    assert metrics["final_train_loss"] < metrics["first_train_loss"]
    assert metrics["validation_loss_after"] < metrics["validation_loss_before"]
    assert card["data"]["sha256"] and card["libraries"]["peft"] != "not installed"
    assert card["hyperparameters"]["lr"] == pytest.approx(5e-3)
    assert (micro_adapter / "loss.png").read_bytes()[:8] == PNG_MAGIC
    assert "## Metrics" in (micro_adapter / "run_card.md").read_text()
    assert not (micro_adapter / "checkpoints").exists()  # removed after success unless keep_checkpoints
    assert card["data"]["examples_dropped_over_length"] == 0 and card["data"]["examples_with_notes_cut"] == 0
    assert length_note(card) is None
    from rtletter.model.finetune import read_split
    from rtletter.model.vocabulary import site_words, words

    trained = {w for r in read_split(Path(card["data"]["folder"]), "train") for m in r["completion"]
               for w in words(m["content"])}  # fmt: skip
    known = site_words(micro_adapter)  # the words of the letters it learned, for the worker's wording check
    assert known is not None and trained and trained <= known

    base = AutoModelForCausalLM.from_pretrained(str(micro_base), local_files_only=True)
    model = PeftModel.from_pretrained(base, str(micro_adapter))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    targets = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= targets  # all linear
    assert any(torch.count_nonzero(p) > 0 for p in lora_b)  # trained away from the zero initialisation


def test_the_saved_adapter_is_the_checkpoint_of_the_lowest_validation_loss(
    micro_base: Path, micro_data: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, TrainerCallback

    from rtletter.model.components.loading import load_tokenizer

    class Blowup(TrainerCallback):  # after step 2 the learning rate explodes: the later checkpoints are worse
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= 2:
                for group in kwargs["optimizer"].param_groups:
                    group["lr"] = 5.0

    out = tmp_path / "best"
    overrides = [*QUICK, "max_steps=6"]
    card = finetune(micro_base, micro_data, out, method="lora", overrides=overrides, callbacks=[Blowup()])
    metrics = card["metrics"]
    assert metrics["best_checkpoint_step"] == 2
    assert not metrics["validation_loss_after"] <= metrics["best_validation_loss"]  # the last (worse or nan) not kept

    tokenizer = load_tokenizer(micro_base)
    record = json.loads((micro_data / "validation.jsonl").read_text().splitlines()[0])
    example = tokenize_example(tokenizer, record["prompt"], record["completion"], max_length=4096)
    batch = CompletionCollator(tokenizer.pad_token_id)([{"input_ids": example.input_ids, "labels": example.labels}])
    base = AutoModelForCausalLM.from_pretrained(str(micro_base), local_files_only=True)
    model = PeftModel.from_pretrained(base, str(out)).eval()
    with torch.no_grad():
        loss = model(**batch).loss.item()
    assert loss == pytest.approx(metrics["best_validation_loss"], rel=1e-3)


def test_qlora_finetune_runs_4bit_on_cpu(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    import bitsandbytes as bnb

    from rtletter.model.components.config import load_config

    config = load_config(FinetuneConfig, None, [*QUICK, "quantization=nf4", "eval_steps=100", "keep_best=false"])
    recipe = FinetuneRecipe(config, micro_base, micro_data, tmp_path / "qlora")
    recipe.setup()
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in recipe.model.modules())
    recipe.train()
    recipe.save()
    metrics = recipe.card["metrics"]
    assert recipe.card["method"] == "qlora" and recipe.card["base"]["quantization"] == "nf4"
    assert metrics["final_train_loss"] < metrics["first_train_loss"]
    assert (tmp_path / "qlora" / "adapter_model.safetensors").is_file()


def _lora_grads(model: Any, ids: Any, *, eval_first: bool) -> dict[str, Any]:
    import torch

    if eval_first:  # what the Trainer's validation pass does before training (eval_on_start)
        model.eval()
        with torch.no_grad():
            model(input_ids=ids)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_qlora_gradients_after_an_eval_pass_match_lora_over_the_dequantised_weights(
    micro_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch's LoRA gradients on the NF4 base after an eval-mode forward equal those over its dequantised weights.

    bitsandbytes repacks a Linear4bit for its gemv_4bit kernel (no backward) on the first eval-mode forward when the
    CPU has AVX512-BF16. This machine may lack it, so the test says the CPU has it: on such a CPU the repacking and
    the lost gradients are real, and the adapter set-up must keep training off that path.
    """
    import bitsandbytes as bnb
    import bitsandbytes.nn.modules as bnb_modules
    import torch

    from rtletter.model.components.loading import load_causal_lm
    from rtletter.model.components.peft_setup import attach_lora, lora_config

    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: True)
    quantized = load_causal_lm(micro_base, quantization="nf4", dtype="float32", device="cpu")
    reference = load_causal_lm(micro_base, quantization="none", dtype="float32", device="cpu")
    dequantised = {
        f"{name}.weight": bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
        for name, module in quantized.named_modules()
        if isinstance(module, bnb.nn.Linear4bit)
    }
    assert dequantised and reference.load_state_dict(dequantised, strict=False).unexpected_keys == []
    config = lora_config(rank=8, alpha=16, dropout=0.0)
    quantized = attach_lora(quantized, config, quantized=True, gradient_checkpointing=False)
    reference = attach_lora(reference, config, quantized=False, gradient_checkpointing=False)
    torch.manual_seed(0)
    lora = {n: torch.randn_like(p) * 0.02 for n, p in quantized.named_parameters() if "lora_" in n}
    quantized.load_state_dict(lora, strict=False)
    reference.load_state_dict(lora, strict=False)
    ids = torch.randint(5, 500, (2, 48), generator=torch.Generator().manual_seed(1))

    got = _lora_grads(quantized, ids, eval_first=True)
    want = _lora_grads(reference, ids, eval_first=False)
    assert got.keys() == want.keys() == lora.keys()
    first_layer = [n for n in got if ".layers.0." in n]
    assert first_layer
    for name in got:
        assert torch.allclose(got[name], want[name], rtol=1e-3, atol=1e-7), name


class _Interrupt(TrainerCallback):
    """Fault injection: the run dies after ``step`` (as a killed process would, after its last checkpoint)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_continues_from_the_last_checkpoint(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    overrides = [*QUICK, "eval_steps=100", "keep_best=false"]
    with pytest.raises(KeyboardInterrupt):
        finetune(micro_base, micro_data, out, method="lora", overrides=overrides, callbacks=[_Interrupt(3)])
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (out / "adapter_model.safetensors").exists()

    card = finetune(micro_base, micro_data, out, method="lora", overrides=overrides, resume=True)
    assert card["resumed_from"].endswith("checkpoint-2")
    assert card["metrics"]["steps"] == 6
    assert (out / "adapter_model.safetensors").is_file()


def test_resume_without_checkpoint_is_a_clear_error(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeConfigError, match="no checkpoint"):
        finetune(micro_base, micro_data, tmp_path / "none", overrides=QUICK, resume=True)


def test_bad_dataset_lines_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"prompt": [], "completion": []}\n{not json\n')
    with pytest.raises(DatasetError, match="train.jsonl line 2"):
        read_split(tmp_path, "train")
    with pytest.raises(DatasetError, match="no train.jsonl"):
        read_split(tmp_path / "missing", "train")


def test_unknown_config_key_is_rejected(micro_base: Path, micro_data: Path, tmp_path: Path) -> None:
    with pytest.raises(RecipeConfigError, match="lora_rnak"):
        finetune(micro_base, micro_data, tmp_path / "x", overrides=["lora_rnak=8"])


def test_shipped_configs_load_and_differ_in_quantization() -> None:
    from rtletter.model.components.config import load_config

    configs = Path(__file__).resolve().parents[2] / "model" / "configs"
    for size, device_keys in (("llama3_8b", {"optimizer": "paged_adamw_8bit"}), ("tiny", {"device": "cpu"})):
        suffix = "" if size == "llama3_8b" else "_cpu"
        qlora = load_config(FinetuneConfig, configs / size / f"qlora{suffix}.yaml")
        lora = load_config(FinetuneConfig, configs / size / f"lora{suffix}.yaml")
        assert (qlora.method, lora.method) == ("qlora", "lora")
        for key, value in device_keys.items():
            assert getattr(qlora, key) == value
        for path in (configs / size).glob("*.yaml"):
            assert path.read_text().startswith("# rtletter model ")
    big = load_config(FinetuneConfig, configs / "llama3_8b" / "qlora.yaml")
    assert 16 <= big.lora_rank <= 64 and 16 <= big.lora_alpha <= 32 and 0.05 <= big.lora_dropout <= 0.1
    assert big.lr == pytest.approx(2e-4) and big.warmup > 0 and big.max_length == 4096 and big.gradient_checkpointing


def test_finetune_command_bad_base_exits_2_with_one_line(micro_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rtletter.cli.model import model_app

    args = ["finetune", "--base", str(tmp_path / "none"), "--data", str(micro_data), "--out", str(tmp_path / "a")]
    result = CliRunner().invoke(model_app, args)
    assert result.exit_code == 2
    assert result.output.startswith("error: tokenizer folder") and result.output.count("\n") == 1
    bad_method = CliRunner().invoke(model_app, [*args, "--method", "dora"])
    assert bad_method.exit_code == 2 and "qlora or lora" in bad_method.output


def test_a_run_that_dropped_examples_says_how_many_and_why() -> None:
    card = {"data": {"train_examples": 128, "validation_examples": 8, "examples_dropped_over_length": 22,
                     "examples_with_notes_cut": 0}, "hyperparameters": {"max_length": 2048}}  # fmt: skip
    note = length_note(card)
    assert note is not None and "22 of 158 examples dropped" in note and "max_length=2048" in note
