"""Tokenising (prompt, completion) conversations with the loss on the letter only, and padding them into batches.

The mask comes from the chat template's ``{% generation %}`` markers (``return_assistant_tokens_mask``): the letter
and its closing ``<|eot_id|>`` carry labels, every prompt and padding position is ``-100`` (ignored by the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss default ignore_index


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def tokenize_example(
    tokenizer: Any, prompt: list[dict[str, str]], completion: list[dict[str, str]], max_length: int
) -> TokenizedExample:
    """Token ids and labels of one conversational prompt-completion example.

    Args:
        tokenizer: a tokenizer whose chat template marks the assistant turn (``prepare_tokenizer`` ensures it).
        prompt: the system and user messages.
        completion: the assistant message(s): the letter.
        max_length: longer examples are cut at the right (the letter's end); ``truncated`` says so.

    Returns:
        A ``TokenizedExample``; ``labels`` is ``input_ids`` with every non-assistant position set to -100.

    Raises:
        ValueError: the template marks no assistant token (wrong template, or no assistant message).
    """
    encoded = tokenizer.apply_chat_template(
        [*prompt, *completion], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = [int(i) for i in encoded["input_ids"]]
    mask = [int(m) for m in encoded["assistant_masks"]]
    if not any(mask):
        raise ValueError("the chat template marked no assistant tokens; it needs {% generation %} markers")
    truncated = len(ids) > max_length
    ids, mask = ids[:max_length], mask[:max_length]
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids, mask, strict=True)]
    return TokenizedExample(ids, labels, truncated)


class CompletionCollator:
    """Pads ``{"input_ids", "labels"}`` features on the right into tensors, with an attention mask.

    Right padding for training: positions then count from 0 at the first real token, as at generation time.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids, labels, attention = [], [], []
        for feature in features:
            pad = longest - len(feature["input_ids"])
            input_ids.append(list(feature["input_ids"]) + [self.pad_token_id] * pad)
            labels.append(list(feature["labels"]) + [IGNORE_INDEX] * pad)
            attention.append([1] * len(feature["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(attention, dtype=torch.long),
        }
