"""The Llama-3 chat template with the assistant turn marked for training.

``{% generation %}`` ... ``{% endgeneration %}`` lets ``tokenizer.apply_chat_template(...,
return_assistant_tokens_mask=True)`` (and TRL's ``assistant_only_loss``) tell letter tokens from prompt tokens. The
rendering is the Llama-3 Instruct format byte for byte: a model fine-tuned with it is prompted in the format Meta
trained.
"""

from __future__ import annotations

from typing import Any

EOT_TOKEN = "<|eot_id|>"  # noqa: S105 - Llama-3 end of turn: generation stops here
END_OF_TEXT_TOKEN = "<|end_of_text|>"  # noqa: S105
BOS_TOKEN = "<|begin_of_text|>"  # noqa: S105
# Llama-3.1 names a padding token; Llama-3 (8B Instruct) has none, so a reserved special token stands in.
PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|reserved_special_token_250|>", "<|reserved_special_token_0|>")

# Meta-Llama-3-8B-Instruct's rendering (``rtletter.mappers.prompt.LLAMA3_CHAT_TEMPLATE``) with the assistant turn
# marked by transformers' {% generation %} tags, so that ``apply_chat_template(..., return_assistant_tokens_mask=True)``
# finds the letter tokens for the loss.
LLAMA3_TRAINING_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def training_chat_template() -> str:
    """The Llama-3 template whose assistant turn is wrapped in ``{% generation %}`` (the prompt module's rendering)."""
    return LLAMA3_TRAINING_CHAT_TEMPLATE


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Make a Llama-3 tokenizer ready for training and batched generation.

    Meta's 8B Instruct folder ships a template without generation markers and no padding token; the demo base ships
    both. Either way the result renders the same text, masks the assistant turn and pads on the left for generation.

    Args:
        tokenizer: a ``PreTrainedTokenizerFast`` loaded from a Llama-3 folder.

    Returns:
        The same tokenizer, changed in place.
    """
    template = tokenizer.chat_template or ""
    if "generation" not in template:
        tokenizer.chat_template = training_chat_template()
    if tokenizer.pad_token is None:
        vocab = tokenizer.get_vocab()
        tokenizer.pad_token = next((t for t in PAD_CANDIDATES if t in vocab), tokenizer.eos_token)
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    return tokenizer


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end a generated turn: ``<|eot_id|>`` and ``<|end_of_text|>`` where the vocabulary has them."""
    vocab = tokenizer.get_vocab()
    ids = [vocab[t] for t in (EOT_TOKEN, END_OF_TEXT_TOKEN) if t in vocab]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
