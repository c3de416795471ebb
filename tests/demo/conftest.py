"""Fixtures for the demo tests: a micro base built by the real build-base code.

The same session fixture as tests/model/conftest.py's ``micro_base`` (fixtures do not cross sibling folders); built
once per session here too, in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MICRO_CONFIG = ROOT / "model" / "configs" / "tiny" / "micro.yaml"


@pytest.fixture(scope="session")
def micro_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtletter.demo.base_model import build_base

    return build_base(tmp_path_factory.mktemp("micro") / "base", MICRO_CONFIG)
