"""Agent fixtures: a settings file factory on tmp folders, and a store on a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtletter.agent.config import Settings, load_settings
from rtletter.agent.jobs.store import JobStore


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an agent YAML using folders under tmp_path; keyword sections override the defaults."""

    def make(**sections: Any) -> Path:
        data = {
            "database": {"url": f"sqlite:///{tmp_path / 'var' / 'rtletter.db'}"},
            "channels": {
                "file": {
                    "inbox": str(tmp_path / "inbox"),
                    "outbox": str(tmp_path / "outbox"),
                    "quarantine": str(tmp_path / "quarantine"),
                    "settle_s": 0,
                }
            },
            "model": {"backend": "template"},
            "jobs": {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "lease_s": 30},
            "logging": {"level": "INFO", "json": True},
        }
        path = tmp_path / "agent.yaml"
        path.write_text(yaml.safe_dump(_merge(data, sections)), encoding="utf-8")
        return path

    return make


@pytest.fixture
def settings(config_file: Callable[..., Path]) -> Settings:
    return load_settings(config_file())


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    job_store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", lease_s=30)
    job_store.create_tables()
    yield job_store
    job_store.dispose()
