"""Agent fixtures: a settings file factory on tmp folders, and a store on a real SQLite file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtletter.agent.config import Settings, load_settings
from rtletter.agent.jobs.store import JobStore

sys.path.insert(0, str(Path(__file__).parent))  # factories.py, beside this file

from factories import write_agent_config  # noqa: E402


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an agent YAML using folders under tmp_path; keyword sections override the defaults."""

    def make(**sections: Any) -> Path:
        return write_agent_config(tmp_path, **sections)

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
