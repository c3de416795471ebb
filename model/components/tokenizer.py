"""Training the demo base's byte-level BPE tokenizer (the Llama-3 recipe: tiktoken-style split regex, byte fallback).

Byte-level BPE never loses a character: "Ödem", "Größe", "Übelkeit" decode to themselves whatever the vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from rtletter.model.components.chat_template import BOS_TOKEN, END_OF_TEXT_TOKEN, EOT_TOKEN, training_chat_template

# Llama-3's pre-tokenizer split (tiktoken cl100k pattern): letters, 1-3 digit groups, punctuation, whitespace.
LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)
PAD_TOKEN = "<|finetune_right_pad_id|>"  # noqa: S105 - Llama-3.1's padding token
SPECIAL_TOKENS = [BOS_TOKEN, END_OF_TEXT_TOKEN, "<|start_header_id|>", "<|end_header_id|>", EOT_TOKEN, PAD_TOKEN]


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a Llama-3-style byte-level BPE tokenizer on ``texts``.

    Args:
        texts: training documents (German and English).
        vocab_size: size of the vocabulary including the 256 byte symbols and the special tokens.

    Returns:
        A ``PreTrainedTokenizerFast`` that adds ``<|begin_of_text|>``, ends turns with ``<|eot_id|>``, pads with
        ``<|finetune_right_pad_id|>`` and carries the training chat template.

    Raises:
        ValueError: ``vocab_size`` leaves no room for merges.
    """
    if vocab_size <= 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size {vocab_size} must exceed the 256 byte symbols plus special tokens")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte is a token: nothing is ever unknown
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    bos_id = backend.token_to_id(BOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOT_TOKEN,  # as in Meta-Llama-3-8B-Instruct's tokenizer_config
        pad_token=PAD_TOKEN,
        chat_template=training_chat_template(),
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )
