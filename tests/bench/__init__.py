"""Tests of the ``bench/`` scripts. The scripts are files, not a package: ``load_bench`` imports one by its path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def load_bench(path: Path) -> ModuleType:
    """The script at ``path`` as a module named after its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a script's dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module
