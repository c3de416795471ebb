"""Shared fixtures. The external conformance inputs live in tests/fixtures/external (provenance in its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "fixtures" / "external"


@pytest.fixture(scope="session")
def external_dir() -> Path:
    if not EXTERNAL.is_dir():
        pytest.fail(f"conformance inputs missing: {EXTERNAL} (they are part of the checkout)")
    return EXTERNAL
