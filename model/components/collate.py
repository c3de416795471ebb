"""Tokenising (prompt, completion) conversations with the loss on the letter only, and padding them into batches.

The mask comes from the chat template's ``{% generation %}`` markers (``return_assistant_tokens_mask``): the letter
and its closing ``<|eot_id|>`` carry labels, every prompt and padding position is ``-100`` (ignored by the loss).

An example longer than ``max_length`` is never cut at the right: that would teach letters without their end and
without the end-of-turn, i.e. a model that does not stop. Its prompt loses quoted free-text notes instead, oldest
first; if the example is still too long it is dropped (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss default ignore_index


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]
    notes_cut: int = 0  # quoted notes removed from the prompt to fit max_length
    dropped: bool = False  # too long even without notes: input_ids and labels are empty

    @property
    def shortened(self) -> bool:
        return self.notes_cut > 0


def tokenize_example(
    tokenizer: Any, prompt: list[dict[str, str]], completion: list[dict[str, str]], max_length: int
) -> TokenizedExample:
    """Token ids and labels of one conversational prompt-completion example.

    Args:
        tokenizer: a tokenizer whose chat template marks the assistant turn (``prepare_tokenizer`` ensures it).
        prompt: the system and user messages.
        completion: the assistant message(s): the letter.
        max_length: longer examples lose prompt notes (oldest first), else are dropped; the letter is never cut.

    Returns:
        A ``TokenizedExample``; ``labels`` is ``input_ids`` with every non-assistant position set to -100.

    Raises:
        ValueError: the template marks no assistant token (wrong template, or no assistant message).
    """
    ids, mask = _encode(tokenizer, prompt, completion)
    if not any(mask):
        raise ValueError("the chat template marked no assistant tokens; it needs {% generation %} markers")
    notes_cut = 0
    while len(ids) > max_length:
        shorter = _cut_a_note(prompt)
        if shorter is None:
            return TokenizedExample([], [], notes_cut, dropped=True)
        prompt, notes_cut = shorter, notes_cut + 1
        ids, mask = _encode(tokenizer, prompt, completion)
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids, mask, strict=True)]
    return TokenizedExample(ids, labels, notes_cut)


Messages = list[dict[str, str]]


def _encode(tokenizer: Any, prompt: Messages, completion: Messages) -> tuple[list[int], list[int]]:
    encoded = tokenizer.apply_chat_template(
        [*prompt, *completion], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return [int(i) for i in encoded["input_ids"]], [int(m) for m in encoded["assistant_masks"]]


def _cut_a_note(prompt: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """The prompt with the oldest note of its last user message removed; None when there is none left."""
    from rtletter.mappers.prompt import without_oldest_note  # jinja2 and pydantic only when an example is too long

    for index in range(len(prompt) - 1, -1, -1):
        if prompt[index].get("role") == "user":
            shorter = without_oldest_note(prompt[index]["content"])
            if shorter is None:
                return None
            return [*prompt[:index], {**prompt[index], "content": shorter}, *prompt[index + 1 :]]
    return None


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
