"""Agent fixtures: settings from the shared agent YAML (tests/conftest.py ``config_file``), a store on a real SQLite
file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rtletter.agent.config import Settings, load_settings
from rtletter.agent.jobs.store import JobStore


@pytest.fixture
def settings(config_file: Callable[..., Path]) -> Settings:
    return load_settings(config_file())


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    job_store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", lease_s=30)
    job_store.create_tables()
    yield job_store
    job_store.dispose()
