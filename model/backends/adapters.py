"""PEFT LoRA adapter folders: the base they were trained on, their rank and version, and putting one on a model.

An adapter folder is PEFT's own format (``adapter_config.json`` + ``adapter_model.safetensors``), so peft, vLLM and
other tools load it as it is. Reading the config is plain JSON (no torch): the agent checks an adapter's rank
against the model server's limit at start-up.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rtletter.model.errors import ModelLoadError


def adapter_base(adapter: Path) -> Path:
    """The base folder an adapter was trained on (``base_model_name_or_path`` in ``adapter_config.json``).

    Raises:
        ModelLoadError: no readable adapter config.
    """
    config = Path(adapter) / "adapter_config.json"
    try:
        base = json.loads(config.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"adapter folder {adapter} has no readable adapter_config.json") from exc
    return Path(base)


def adapter_rank(adapter: Path) -> int:
    """The LoRA rank a server must allow for ``adapter`` (vLLM's ``--max-lora-rank``): ``r`` in its
    ``adapter_config.json``, or the highest per-module rank of its ``rank_pattern``.

    Raises:
        ModelLoadError: no readable adapter config, or no integer ``r`` in it.
    """
    config = Path(adapter) / "adapter_config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        ranks = [int(data["r"]), *(int(v) for v in (data.get("rank_pattern") or {}).values())]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"adapter folder {adapter} has no readable LoRA rank (r in adapter_config.json)") from exc
    return max(ranks)


def adapter_version(adapter: Path) -> str:
    """The adapter's folder name and the first 8 hex digits of its weights' SHA-256, e.g. ``adapter@1a2b3c4d``."""
    weights = Path(adapter) / "adapter_model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:8] if weights.is_file() else "unknown"
    return f"{Path(adapter).name}@{digest}"


def apply_adapter(model: Any, adapter: Path, *, merge: bool = False, name: str = "default") -> Any:
    """Put a PEFT adapter on ``model``; with ``merge`` fold it into the weights and return the plain model.

    Raises:
        ModelLoadError: the adapter folder is missing or does not fit the base.
    """
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(f"adapter folder {adapter} has no adapter_config.json")
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), adapter_name=name, is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(f"cannot apply adapter {adapter}: {exc.__class__.__name__}") from exc
    peft_model.eval()
    return peft_model.merge_and_unload() if merge else peft_model
