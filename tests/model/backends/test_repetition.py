"""The draft-only repetition penalty: tokens the draft wrote are penalised, tokens of the prompt are not."""

from __future__ import annotations

import pytest
import torch

from rtletter.model.backends.repetition import DraftRepetitionPenalty


def test_only_tokens_after_the_prompt_are_penalised() -> None:
    # Row 0: prompt [1, 2], draft [3]; row 1: prompt [0, 3] (left padding: same width), draft [2].
    input_ids = torch.tensor([[1, 2, 3], [0, 3, 2]])
    scores = torch.tensor([[1.0, 2.0, 4.0, -2.0, 8.0], [1.0, 2.0, 4.0, -2.0, 8.0]])
    out = DraftRepetitionPenalty(2.0, prompt_width=2)(input_ids, scores.clone())
    assert out[0].tolist() == [1.0, 2.0, 4.0, -4.0, 8.0]  # 3 written: its negative logit doubled; 1, 2 untouched
    assert out[1].tolist() == [1.0, 2.0, 2.0, -2.0, 8.0]  # 2 written: halved; 3 only in the prompt: untouched


def test_no_draft_yet_and_penalty_one_leave_scores_alone() -> None:
    scores = torch.tensor([[1.0, -1.0, 3.0]])
    assert DraftRepetitionPenalty(1.5, 2)(torch.tensor([[0, 1]]), scores.clone()).tolist() == scores.tolist()
    assert DraftRepetitionPenalty(1.0, 1)(torch.tensor([[0, 1]]), scores.clone()).tolist() == scores.tolist()


def test_a_token_written_twice_is_penalised_once() -> None:  # the CTRL rule, as transformers applies it
    out = DraftRepetitionPenalty(2.0, 1)(torch.tensor([[0, 2, 2]]), torch.tensor([[1.0, 1.0, 6.0]]))
    assert out.tolist() == [[1.0, 1.0, 3.0]]


def test_a_penalty_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="repetition penalty"):
        DraftRepetitionPenalty(0.0, 1)
