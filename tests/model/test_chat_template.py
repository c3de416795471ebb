"""The training chat template renders exactly what the prompt module's Llama-3 rendering does, and marks the letter."""

from __future__ import annotations

from pathlib import Path

from rtletter.mappers.case import Case
from rtletter.mappers.prompt import build_messages, render_chat
from rtletter.model.components.chat_template import LLAMA3_TRAINING_CHAT_TEMPLATE, training_chat_template

DATA = Path(__file__).parent / "data"


def _tokenizer(template: str):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", unk_token="[UNK]"
    )
    tokenizer.chat_template = template
    return tokenizer


def test_training_template_renders_like_the_llama3_format() -> None:
    assert (
        training_chat_template() == LLAMA3_TRAINING_CHAT_TEMPLATE
        and "{% generation %}" in LLAMA3_TRAINING_CHAT_TEMPLATE
    )
    tokenizer = _tokenizer(training_chat_template())
    case = Case.model_validate_json((DATA / "case_rectum.json").read_bytes())
    messages = list(build_messages(case))
    assert render_chat(messages, tokenizer) == render_chat(messages)
    with_letter = [*messages, {"role": "assistant", "content": "Sehr geehrte Frau Kollegin"}]
    assert render_chat(with_letter, tokenizer, add_generation_prompt=False) == render_chat(
        with_letter, add_generation_prompt=False
    )
