"""Device choice of the loader: CPU without CUDA; under a data-parallel launcher each rank on its own GPU."""

from __future__ import annotations

import pytest
import torch

from rtletter.model.components.loading import default_device, default_dtype


@pytest.mark.parametrize(
    ("cuda", "local_rank", "expected"),
    [(False, None, "cpu"), (False, "1", "cpu"), (True, None, "cuda"), (True, "0", "cuda:0"), (True, "3", "cuda:3")],
)
def test_default_device(monkeypatch: pytest.MonkeyPatch, cuda: bool, local_rank: str | None, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    assert default_device() == expected
    assert default_dtype(expected) == ("bfloat16" if cuda else "float32")
