"""Shared fixtures. Paths to the external conformance inputs in ../shared live here."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EXTERNAL = SHARED / "fixtures" / "external"


@pytest.fixture(scope="session")
def external_dir() -> Path:
    if not EXTERNAL.is_dir():
        pytest.fail(f"conformance inputs missing: {EXTERNAL} (../shared must sit beside the checkout)")
    return EXTERNAL
