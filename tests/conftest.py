"""Shared fixtures: the external conformance inputs (tests/fixtures/external, provenance in its README) and a micro
base model built by the real build-base code (the model and demo tests use it), and the agent YAML factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.factories import write_agent_config

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "fixtures" / "external"
MICRO_CONFIG = ROOT / "model" / "configs" / "tiny" / "micro.yaml"


@pytest.fixture(scope="session")
def external_dir() -> Path:
    if not EXTERNAL.is_dir():
        pytest.fail(f"conformance inputs missing: {EXTERNAL} (they are part of the checkout)")
    return EXTERNAL


@pytest.fixture(scope="session")
def micro_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session, in seconds."""
    from rtletter.demo.base_model import build_base

    return build_base(tmp_path_factory.mktemp("micro") / "base", MICRO_CONFIG)


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an agent YAML using folders under tmp_path (tests/agent, tests/cli); keyword sections override the
    defaults."""

    def make(**sections: Any) -> Path:
        return write_agent_config(tmp_path, **sections)

    return make
