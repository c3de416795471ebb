"""PEFT adapter folders: the base an adapter records, its rank and version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rtletter.model.backends.adapters import adapter_base, adapter_rank, adapter_version
from rtletter.model.errors import ModelLoadError


def test_adapter_records_its_base(micro_base: Path, micro_adapter: Path) -> None:
    assert adapter_base(micro_adapter) == micro_base.resolve()


def test_adapter_rank_is_the_highest_of_r_and_its_rank_pattern(tmp_path: Path) -> None:
    config = tmp_path / "adapter_config.json"
    config.write_text(json.dumps({"r": 16, "rank_pattern": {"q_proj": 32, "v_proj": 8}}))
    assert adapter_rank(tmp_path) == 32
    config.write_text(json.dumps({"r": 8, "rank_pattern": None}))
    assert adapter_rank(tmp_path) == 8
    config.write_text(json.dumps({"lora_alpha": 32}))
    with pytest.raises(ModelLoadError, match="no readable LoRA rank"):
        adapter_rank(tmp_path)


def test_adapter_version_is_the_folder_name_and_the_weights_hash(tmp_path: Path) -> None:
    folder = tmp_path / "letters"
    folder.mkdir()
    assert adapter_version(folder) == "letters@unknown"
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    assert adapter_version(folder) == f"letters@{hashlib.sha256(b'weights').hexdigest()[:8]}"
