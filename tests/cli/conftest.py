"""Command-line fixtures: the agent YAML factory of the agent tests (tests/agent/factories.py), on tmp folders."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))  # factories.py of the agent tests

from factories import write_agent_config  # noqa: E402


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an agent YAML using folders under tmp_path; keyword sections override the defaults."""

    def make(**sections: Any) -> Path:
        return write_agent_config(tmp_path, **sections)

    return make
