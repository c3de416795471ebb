"""Shared fixtures: the external conformance inputs (tests/fixtures/external, provenance in its README) and a micro
base model built by the real build-base code (the model and demo tests use it)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
