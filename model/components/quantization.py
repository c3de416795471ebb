"""bitsandbytes quantisation configs (QLoRA: NF4 with double quantisation, Dettmers et al. 2023)."""

from __future__ import annotations

from typing import Any

from rtletter.model.errors import RecipeConfigError

QUANTIZATIONS = ("nf4", "fp4")


def quantization_config(quantization: str | None, *, compute_dtype: Any) -> Any:
    """The ``BitsAndBytesConfig`` for a quantisation name.

    Args:
        quantization: ``None``, ``"none"``, ``"nf4"`` (QLoRA's 4-bit NormalFloat) or ``"fp4"``.
        compute_dtype: the dtype the 4-bit weights are dequantised to for each matmul (bf16 on GPU, float32 on CPU).

    Returns:
        A ``BitsAndBytesConfig``, or None for full-precision weights.

    Raises:
        RecipeConfigError: an unknown quantisation name.
    """
    if quantization in (None, "", "none"):
        return None
    if quantization not in QUANTIZATIONS:
        raise RecipeConfigError(f"unknown quantization {quantization!r}; use none, {' or '.join(QUANTIZATIONS)}")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization,
        bnb_4bit_use_double_quant=True,  # quantise the quantisation constants too: ~0.4 bit/parameter saved
        bnb_4bit_compute_dtype=compute_dtype,
    )
