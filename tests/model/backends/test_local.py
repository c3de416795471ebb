"""The local backend: stops at <|eot_id|>, batched == unbatched, merged == unmerged, 4-bit, clear load errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtletter.model import Backend, load_local_backend
from rtletter.model.backends.adapters import adapter_base
from rtletter.model.backends.repetition import DraftRepetitionPenalty
from rtletter.model.errors import ModelLoadError


def _prompts(data: Path, n: int = 3) -> list[list[dict[str, str]]]:
    records = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    prompts = [r["prompt"] for r in records[:n]]
    prompts.append([{"role": "user", "content": "Kurz: Ödem Grad 1."}])  # a much shorter prompt: left padding
    return prompts


def test_local_backend_implements_the_protocol(micro_base: Path) -> None:
    generator = load_local_backend(micro_base)
    assert isinstance(generator, Backend)
    assert generator.model_name == "base"


def test_generation_stops_at_eot(micro_base: Path, micro_data: Path) -> None:
    import torch
    from transformers import LogitsProcessorList

    generator: Any = load_local_backend(micro_base)
    prompt = _prompts(micro_data, 1)[:1]
    free = generator.generate(prompt, max_new_tokens=6)[0]
    assert free.completion_tokens == 6 and free.truncated  # cut at max_new_tokens: the draft is flagged
    # Make the model say <|eot_id|> exactly where it said its third token: swap the two rows of the output head.
    ids = generator._prompt_ids(prompt[0])
    penalty = LogitsProcessorList([DraftRepetitionPenalty(generator.repetition_penalty, len(ids))])
    with torch.no_grad():
        out = generator.model.generate(torch.tensor([ids]), max_new_tokens=3, do_sample=False, eos_token_id=None,
                                       repetition_penalty=1.0, logits_processor=penalty)  # fmt: skip
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
    batched = load_local_backend(micro_base, micro_adapter, batch_size=8).generate(prompts, max_new_tokens=12)
    single = load_local_backend(micro_base, micro_adapter, batch_size=1)
    one_by_one = [single.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert [g.text for g in batched] == [g.text for g in one_by_one]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in one_by_one]
    assert all(g.completion_tokens > 0 and g.seconds > 0 for g in batched)


def test_merged_adapter_generates_like_unmerged(micro_base: Path, micro_adapter: Path, micro_data: Path) -> None:
    from peft import PeftModel

    prompts = _prompts(micro_data, 2)
    unmerged: Any = load_local_backend(micro_base, micro_adapter)
    merged: Any = load_local_backend(micro_base, micro_adapter, merge=True)
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

    generator: Any = load_local_backend(micro_base, micro_adapter, quantization="nf4")
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in generator.model.modules())
    result = generator.generate(_prompts(micro_data, 1)[:1], max_new_tokens=5)[0]
    assert 0 < result.completion_tokens <= 5


def test_missing_folders_are_clear_errors(tmp_path: Path, micro_base: Path) -> None:
    with pytest.raises(ModelLoadError, match="tokenizer_config.json"):
        load_local_backend(tmp_path / "nothing")
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        load_local_backend(micro_base, tmp_path)
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        adapter_base(tmp_path)


def test_a_repetition_penalty_of_one_switches_the_folders_default_off(
    micro_base: Path, micro_data: Path, tmp_path: Path
) -> None:
    """1.0 is a value, not "unset": unset would fall back to the base folder's generation_config."""
    import shutil

    import torch

    base = tmp_path / "base"
    shutil.copytree(micro_base, base)
    config = json.loads((base / "generation_config.json").read_text())
    (base / "generation_config.json").write_text(json.dumps({**config, "repetition_penalty": 5.0}))
    prompt = _prompts(micro_data, 1)[:1]
    plain: Any = load_local_backend(base, repetition_penalty=1.0)
    ids = plain._prompt_ids(prompt[0])
    with torch.no_grad():
        out = plain.model.generate(torch.tensor([ids]), max_new_tokens=40, do_sample=False, eos_token_id=None,
                                   repetition_penalty=1.0)  # fmt: skip
    plain.stop_ids = []
    unpenalised = plain.generate(prompt, max_new_tokens=40)[0]
    assert unpenalised.text == plain.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True).strip()
    penalised: Any = load_local_backend(base)  # the folder's 5.0
    penalised.stop_ids = []
    assert penalised.repetition_penalty == 5.0
    assert penalised.generate(prompt, max_new_tokens=40)[0].text != unpenalised.text


def test_sampled_drafts_are_reproducible_by_seed_and_leave_the_random_state_alone(
    micro_base: Path, micro_adapter: Path, micro_data: Path
) -> None:
    import torch

    from rtletter.model.backends.base import Samples

    backend = load_local_backend(micro_base, micro_adapter, batch_size=8)
    assert isinstance(backend, Samples)
    prompts = _prompts(micro_data, n=2)
    state = torch.random.get_rng_state()
    first = backend.sample(prompts, n=3, max_new_tokens=12, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert [len(drafts) for drafts in first] == [3] * len(prompts)
    again = backend.sample(prompts, n=3, max_new_tokens=12, seed=5)
    assert [[g.text for g in d] for d in first] == [[g.text for g in d] for d in again]
    other = backend.sample(prompts, n=3, max_new_tokens=12, seed=6)
    greedy = [g.text for g in backend.generate(prompts, max_new_tokens=12)]
    texts = {g.text for d in first + other for g in d}
    assert len(texts) > len(prompts)  # sampling draws different drafts of one prompt, unlike greedy
    assert [g.text for g in backend.generate(prompts, max_new_tokens=12)] == greedy  # greedy stays greedy
