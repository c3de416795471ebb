"""Local transformers backend: a Llama-3 base (full precision or 4-bit) with a LoRA adapter, or merged.

Greedy by default (``sample`` draws sampled drafts for redrafting); stops at ``<|eot_id|>`` (and
``<|end_of_text|>``); batches conversations with left padding, sorted by prompt length so that a backfill wastes
little compute on padding. A prompt that lists fact slots (built with ``slots``) gets constrained decoding: the draft
can write only the slot ids of its own case (``rtletter.model.backends.slot_constraint``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rtletter.mappers.case import Intent
from rtletter.mappers.prompt import prompt_intent, prompt_slot_ids, prompt_slot_values
from rtletter.model.backends.adapters import adapter_version, apply_adapter
from rtletter.model.backends.base import SAMPLE_TEMPERATURE, SAMPLE_TOP_P, Generation, Message
from rtletter.model.components.chat_template import stop_token_ids

DEFAULT_BATCH_SIZE = 8


def load_local_backend(
    base: Path,
    adapter: Path | None = None,
    *,
    quantization: str | None = None,
    merge: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    repetition_penalty: float | None = None,
) -> LocalBackend:
    """A local backend: the base model folder, optionally with a LoRA adapter.

    Args:
        base: local base folder (demo base or Meta-Llama-3-8B-Instruct).
        adapter: PEFT adapter folder; None drafts with the base alone.
        quantization: None for full weights, ``"nf4"`` for 4-bit.
        merge: fold the adapter into the base weights (faster per token; with 4-bit weights the merge is lossy).
        device: ``cpu`` / ``cuda`` (default: CUDA when available).
        dtype: ``float32`` / ``bfloat16`` (default: bf16 on GPU, float32 on CPU).
        batch_size: conversations per forward pass.
        repetition_penalty: > 1 discourages repeating tokens of the draft, not of the prompt (default: the base
            folder's ``generation_config.json``, 1.0 when it sets none, as Meta's does; the demo base sets one because
            a model this small loops under plain greedy).

    Returns:
        A ``LocalBackend``; its ``model_name`` is ``<base>`` or ``<base>+<adapter>@<hash>``.

    Raises:
        ModelLoadError: a folder is missing or unusable.
    """
    from rtletter.model.components.loading import load_causal_lm, load_tokenizer

    base = Path(base)
    tokenizer = load_tokenizer(base)
    model = load_causal_lm(base, quantization=quantization, dtype=dtype, device=device)
    name = base.name
    if adapter is not None:
        model = apply_adapter(model, Path(adapter), merge=merge)
        name = f"{base.name}+{adapter_version(Path(adapter))}"
    if repetition_penalty is None:  # the folder's decoding default applies to base and adapter alike: a fair comparison
        repetition_penalty = float(getattr(model.generation_config, "repetition_penalty", None) or 1.0)
    return LocalBackend(model, tokenizer, model_name=name, batch_size=batch_size,
                        repetition_penalty=repetition_penalty)  # fmt: skip


class LocalBackend:
    """A ``Backend`` over an in-process ``transformers`` model.

    ``Generation.seconds`` is the wall time of the batch the conversation was drafted in (every member of a batch
    waits for the whole batch), so ``tokens_per_second`` is per conversation, not the batch's throughput.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        no_repeat_ngram_size: int = 0,
        constrain_slots: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.batch_size = max(1, batch_size)
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_p = top_p
        self.repetition_penalty = repetition_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.constrain_slots = constrain_slots  # off only to measure what the constraint costs (bench/generate.py)
        self.stop_ids = stop_token_ids(tokenizer)

    def generate(self, conversations: list[list[Message]], *, max_new_tokens: int = 1024) -> list[Generation]:
        """Draft one answer per conversation, in input order.

        Args:
            conversations: chat messages (system, user, ...) each; the assistant turn is opened by the template.
            max_new_tokens: the longest answer in tokens.

        Returns:
            One ``Generation`` per conversation.
        """
        return self._generate(conversations, max_new_tokens, (self.temperature, self.top_p) if self.do_sample else None)

    def sample(
        self,
        conversations: list[list[Message]],
        *,
        n: int,
        max_new_tokens: int = 1024,
        seed: int = 0,
        temperature: float = SAMPLE_TEMPERATURE,
        top_p: float = SAMPLE_TOP_P,
    ) -> list[list[Generation]]:
        """``n`` sampled drafts per conversation (the same constraints as greedy), in input order; the same ``seed``
        and batch give the same drafts. The process's random state is left as it was."""
        import torch

        repeated = [messages for messages in conversations for _ in range(n)]
        device = _device_of(self.model)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            flat = self._generate(repeated, max_new_tokens, (temperature, top_p))
        return [flat[i * n : (i + 1) * n] for i in range(len(conversations))]

    def _generate(
        self, conversations: list[list[Message]], max_new_tokens: int, sampling: tuple[float, float] | None
    ) -> list[Generation]:
        """Greedy without ``sampling``, else sampled at its (temperature, top-p)."""
        prompts = [self._prompt_ids(messages) for messages in conversations]
        allowed = [prompt_slot_ids(messages) for messages in conversations]
        values = [prompt_slot_values(messages) for messages in conversations]
        intents = [prompt_intent(messages) for messages in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: dict[int, Generation] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self._generate_batch([prompts[i] for i in chunk], max_new_tokens, [allowed[i] for i in chunk],
                                         [values[i] for i in chunk], [intents[i] for i in chunk],
                                         sampling)  # fmt: skip
            for index, generation in zip(chunk, batch, strict=True):
                results[index] = generation
        return [results[i] for i in range(len(prompts))]

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(
            list(messages), tokenize=True, add_generation_prompt=True, return_dict=True
        )
        return [int(i) for i in encoded["input_ids"]]

    def _generate_batch(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        allowed: list[frozenset[str] | None],
        values: list[dict[str, str]],
        intents: list[Intent | None],
        sampling: tuple[float, float] | None,
    ) -> list[Generation]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        from rtletter.model.backends.repetition import DraftRepetitionPenalty
        from rtletter.model.backends.slot_constraint import SlotLogitsProcessor

        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        # Left padding: every prompt ends at the right edge, where generation continues.
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], dtype=torch.long)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
        device = _device_of(self.model)
        # A fresh GenerationConfig: the folder's sampling defaults (Meta ships temperature 0.6) must not leak in.
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=max_new_tokens,
            do_sample=sampling is not None,
            temperature=sampling[0] if sampling else None,
            top_p=sampling[1] if sampling else None,
            repetition_penalty=1.0,  # the draft-only penalty below; None would fall back to the folder's default
            no_repeat_ngram_size=self.no_repeat_ngram_size or None,
            eos_token_id=self.stop_ids or None,  # none: run to max_new_tokens (benchmarks)
            pad_token_id=pad,
            bos_token_id=self.tokenizer.bos_token_id,
        )
        processors = LogitsProcessorList([DraftRepetitionPenalty(self.repetition_penalty, width)])
        if self.constrain_slots and any(ids is not None for ids in allowed):
            processors.append(SlotLogitsProcessor(self.tokenizer, allowed, width, values, intents))
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                generation_config=config,
                logits_processor=processors,
            )
        seconds = time.perf_counter() - started
        generations = []
        for prompt, row in zip(prompts, output[:, width:].tolist(), strict=True):
            tokens, stopped = _until_stop(row, self.stop_ids)
            counted = len(tokens) + 1 if stopped else len(tokens)  # the stop token was generated too
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            generations.append(
                Generation(
                    text=text.strip(),
                    prompt_tokens=len(prompt),
                    completion_tokens=counted,
                    seconds=seconds,
                    model=self.model_name,
                    truncated=not stopped and bool(self.stop_ids),  # no stop ids (benchmarks): a fixed length
                )
            )
        return generations


def _until_stop(row: list[int], stop_ids: list[int]) -> tuple[list[int], bool]:
    """The generated tokens before the first stop token (padding follows it in a batch), and whether one came."""
    for position, token in enumerate(row):
        if token in stop_ids:
            return row[:position], True
    return row, False


def _device_of(model: Any) -> Any:
    return next(model.parameters()).device
