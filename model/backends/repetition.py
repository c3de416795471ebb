"""A repetition penalty over the draft alone.

``transformers``' ``repetition_penalty`` counts every token of the input, the prompt included: each heading word of
the system prompt, each slot id of the fact list and the chat template's own ``<|eot_id|>`` are penalised before the
draft has written them once, so a small model skips sections and runs past the end of its turn. This processor
applies the same rule (CTRL, Keskar et al. 2019: divide a positive logit, multiply a negative one) to the tokens
generated after the prompt only.
"""

from __future__ import annotations

from typing import Any


class DraftRepetitionPenalty:
    """A ``transformers`` logits processor: ``penalty`` > 1 discourages tokens the draft has already written."""

    def __init__(self, penalty: float, prompt_width: int) -> None:
        if penalty <= 0:
            raise ValueError(f"repetition penalty must be > 0, got {penalty}")
        self.penalty = penalty
        self.width = prompt_width

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        written = input_ids[:, self.width :]
        if written.shape[1] == 0 or self.penalty == 1.0:
            return scores
        seen = torch.gather(scores, 1, written)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, written, seen)
