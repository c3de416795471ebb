"""The one loading path for every base model: the demo base folder and a local Meta-Llama-3-8B-Instruct folder alike.

Everything goes through ``AutoTokenizer`` / ``AutoModelForCausalLM.from_pretrained(path, local_files_only=True)``:
nothing is ever fetched from a hub.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rtletter.model.components.chat_template import prepare_tokenizer
from rtletter.model.components.quantization import quantization_config
from rtletter.model.errors import ModelLoadError

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16"}


# Known harmless: on an AVX512-BF16 CPU, importing bitsandbytes tries to fetch an optional kernel from the hub,
# which is forbidden here, and warns; the built-in CPU kernels serve instead.
_HARMLESS_LOG_PREFIXES = ("Failed to load CPU gemm_4bit_forward from kernels-community",)


class _DropHarmless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_HARMLESS_LOG_PREFIXES)


def set_offline() -> None:
    """Forbid hub access for this process (the entry points call it before importing transformers), and drop the
    warning that offline operation makes harmless (the hub-kernel fallback)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    bnb_cpu = logging.getLogger("bitsandbytes.backends.cpu.ops")
    if not any(isinstance(f, _DropHarmless) for f in bnb_cpu.filters):
        bnb_cpu.addFilter(_DropHarmless())


def default_device() -> str:
    """CUDA when available; under ``torchrun``/``accelerate launch`` (data parallel) this process's own GPU, from
    ``LOCAL_RANK``, so that the ranks do not all load onto GPU 0."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{int(rank)}" if rank is not None and rank.isdigit() else "cuda"


def default_dtype(device: str) -> str:
    """bf16 on a GPU; float32 on CPU, where bf16 matmuls are several times slower."""
    return "bfloat16" if device.startswith("cuda") else "float32"


def _check_folder(path: Path, what: str, marker: str) -> None:
    if not (path / marker).is_file():
        raise ModelLoadError(f"{what} folder {path} has no {marker}")


def load_tokenizer(path: Path) -> Any:
    """Load a Llama-3 tokenizer from a local folder, ready for training and batched generation.

    Args:
        path: folder with ``tokenizer.json`` / ``tokenizer_config.json``.

    Returns:
        The tokenizer with the training chat template, a padding token and left padding.

    Raises:
        ModelLoadError: the folder is missing or unreadable.
    """
    from transformers import AutoTokenizer

    set_offline()
    _check_folder(Path(path), "tokenizer", "tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer from {path}: {exc.__class__.__name__}") from exc
    return prepare_tokenizer(tokenizer)


def load_causal_lm(
    path: Path, *, quantization: str | None = None, dtype: str | None = None, device: str | None = None
) -> Any:
    """Load a causal LM from a local folder, in full precision or quantised to 4 bits (NF4).

    Args:
        path: folder with ``config.json`` and safetensors weights.
        quantization: ``None`` / ``"none"`` for full weights, ``"nf4"`` (or ``"fp4"``) for bitsandbytes 4-bit.
        dtype: weight dtype of the non-quantised parts and compute dtype (default: bf16 on GPU, float32 on CPU).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:0"`` (default: CUDA when available).

    Returns:
        The ``PreTrainedModel``, in eval mode, on ``device``.

    Raises:
        ModelLoadError: the folder is missing or the weights cannot be loaded.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    set_offline()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per weight file on every start tells an operator nothing
    _check_folder(Path(path), "model", "config.json")
    device = device or default_device()
    dtype_name = DTYPES.get(dtype or default_dtype(device))
    if dtype_name is None:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPES))}")
    torch_dtype = getattr(torch, dtype_name)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": True}
    bnb = quantization_config(quantization, compute_dtype=torch_dtype)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": device}  # bitsandbytes quantises while placing the weights
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the model from {path}: {exc.__class__.__name__}: {exc}") from exc
    if bnb is None:
        model.to(device)  # type: ignore[arg-type]  # transformers types .to() through a decorator that hides self
    model.eval()  # type: ignore[no-untyped-call]
    return model
