"""The demo base: tokenizer, chat template with assistant mask, HF folder layout, reuse, corpus without letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtletter.demo.base_model import BASE_FILES, build_base, corpus_documents, is_complete
from tests.conftest import MICRO_CONFIG

LETTER_ROLE = "assistant"


@pytest.mark.parametrize("text", ["Ödem", "Größe", "Übelkeit", "50,4 Gy à 1,8 Gy", "Erythem Grad 2 – Haut ✓"])
def test_tokenizer_round_trips_german_text(micro_base: Path, text: str) -> None:
    from rtletter.model.components.loading import load_tokenizer

    tokenizer = load_tokenizer(micro_base)
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True) == text


def test_tokenizer_has_llama3_special_tokens(micro_base: Path) -> None:
    from rtletter.model.components.loading import load_tokenizer

    tokenizer = load_tokenizer(micro_base)
    vocab = tokenizer.get_vocab()
    for token in ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        assert token in vocab
        assert tokenizer.encode(token, add_special_tokens=False) == [vocab[token]]  # one token, never split
    assert tokenizer.pad_token == "<|finetune_right_pad_id|>"
    assert tokenizer.encode("x")[0] == tokenizer.bos_token_id


def test_chat_template_renders_llama3_and_marks_only_the_letter(micro_base: Path) -> None:
    from rtletter.model.components.loading import load_tokenizer

    tokenizer = load_tokenizer(micro_base)
    messages = [
        {"role": "system", "content": "Sie schreiben Arztbriefe."},
        {"role": "user", "content": "Fakten: Ödem Grad 1"},
        {"role": "assistant", "content": "Sehr geehrte Frau Kollegin,\nÜbelkeit Grad 1."},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSie schreiben Arztbriefe.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nFakten: Ödem Grad 1<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nSehr geehrte Frau Kollegin,\nÜbelkeit Grad 1.<|eot_id|>"
    )
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    marked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(marked) == "Sehr geehrte Frau Kollegin,\nÜbelkeit Grad 1.<|eot_id|>"


def test_folder_loads_with_auto_classes_offline(micro_base: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in BASE_FILES:
        assert (micro_base / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(str(micro_base), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(micro_base), local_files_only=True)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tokenizer)
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert eot in model.generation_config.eos_token_id
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode("Größe")])).logits
    assert logits.shape[-1] == len(tokenizer)
    assert torch.isfinite(logits).all()


def test_build_card_records_falling_loss(micro_base: Path) -> None:
    card = json.loads((micro_base / "build_card.json").read_text())
    assert card["loss"][-1]["loss"] < card["loss"][0]["loss"] - 1.0
    assert card["config"]["corpus_seed"] != 7  # not the demo/evaluation cohort


def test_build_base_reuses_a_complete_folder(micro_base: Path) -> None:
    before = (micro_base / "model.safetensors").stat().st_mtime_ns
    assert build_base(micro_base, overrides=["steps=1"]) == micro_base
    assert (micro_base / "model.safetensors").stat().st_mtime_ns == before


def test_incomplete_folder_is_not_reused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert not is_complete(tmp_path)


def test_base_corpus_never_contains_a_letter() -> None:
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.prompt import build_messages

    documents = corpus_documents(3, 1009, ["de", "en"])
    assert documents
    assert all(m["role"] != LETTER_ROLE for doc in documents for m in doc)
    corpus = "\n".join(m["content"] for doc in documents for m in doc)
    for lang in ("de", "en"):
        for item in synthesize(3, 1009, lang):
            prompt = "\n".join(m["content"] for m in build_messages(item.case))  # quotes the closing formula
            long_lines = [line for line in item.letter.splitlines() if len(line) > 60 and line not in prompt]
            assert long_lines
            assert not any(line in corpus for line in long_lines)


def test_the_same_config_builds_the_same_weights(micro_base: Path, tmp_path: Path) -> None:
    """make demo is the same every time: no wall-clock guard or unseeded step may change the base."""
    again = build_base(tmp_path / "again", MICRO_CONFIG)
    assert (again / "model.safetensors").read_bytes() == (micro_base / "model.safetensors").read_bytes()
    assert (again / "tokenizer.json").read_bytes() == (micro_base / "tokenizer.json").read_bytes()


def test_other_letters_are_another_houses_not_the_sites_style() -> None:
    from rtletter.demo.base_model import other_letters
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.letter import split_letter
    from rtletter.mappers.prompt import build_messages
    from rtletter.mappers.template_letter import render_letter

    letters = other_letters(3, 1009, ["de", "en"])
    items = [item for lang in ("de", "en") for item in synthesize(3, 1009, lang)]
    assert letters == [render_letter(item.case) for item in items]  # the package's default template, same cases
    house = "\n".join(letters)
    shared, total = 0, 0
    for item in items:
        prompt = "\n".join(m["content"] for m in build_messages(item.case))
        body = split_letter(item.letter, item.case.language).body
        lines = [line for line in body.splitlines() if len(line) > 60 and line not in prompt]
        shared += sum(line in house for line in lines)
        total += len(lines)
    # the site's sentences are not the other house's: only lines that copy case text (a course name) may coincide
    assert total > 30 and shared / total < 0.1
