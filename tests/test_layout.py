"""The dependency direction between the top-level packages, read from the source with ``ast`` (nothing is imported).

- product packages (agent, model, mappers) never import ``rtletter.demo``;
- ``mappers`` is pure: no ``rtletter.agent``, ``rtletter.model``, torch, httpx or sqlalchemy;
- ``model`` never imports ``rtletter.agent``.

Every import counts, also the lazy ones inside functions and ``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "model", "mappers")

# Temporary: the command-line modules still compose the demo commands (`rtletter demo`, `rtletter synth`,
# `rtletter model build-base`). A later step moves all CLI modules into one `cli/` package and empties this list.
DEMO_ALLOWED = frozenset(
    {
        "agent/cli.py",
        "agent/review/cli.py",
        "agent/worklist/cli.py",
        "model/cli.py",
        "model/eval_cli.py",
    }
)

# Package -> module prefixes it must never import.
FORBIDDEN = {
    "agent": ("rtletter.demo",),
    "model": ("rtletter.demo", "rtletter.agent"),
    "mappers": ("rtletter.demo", "rtletter.agent", "rtletter.model", "torch", "httpx", "sqlalchemy"),
}


def module_name(path: Path) -> str:
    """``mappers/fhir/course.py`` -> ``rtletter.mappers.fhir.course`` (``__init__.py`` names its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["rtletter", *parts])


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name ``source`` imports, relative imports resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)  # `from rtletter import demo`
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def violations(top: str, rel: str, source: str, module: str, is_package: bool = False) -> list[str]:
    out = []
    for name in sorted(imported_modules(source, module, is_package)):
        for prefix in FORBIDDEN[top]:
            if prefix == "rtletter.demo" and rel in DEMO_ALLOWED:
                continue
            if name == prefix or name.startswith(prefix + "."):
                out.append(f"{rel} imports {name}")
    return out


def product_files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("top", PRODUCT)
def test_product_packages_keep_the_dependency_direction(top: str) -> None:
    files = product_files(top)
    assert files, f"no Python files under {top}/"
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        found += violations(top, rel, path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert found == []


def test_the_demo_allow_list_names_existing_files() -> None:
    # A moved or deleted CLI module must leave the list, or the list quietly allows a new file of the same name.
    assert sorted(rel for rel in DEMO_ALLOWED if not (ROOT / rel).is_file()) == []


@pytest.mark.parametrize(
    ("top", "rel", "source", "expected"),
    [
        ("agent", "agent/service.py", "import rtletter.demo.sandbox", {"rtletter.demo.sandbox"}),
        (
            "agent",
            "agent/service.py",
            "def f():\n    from rtletter.demo import run\n",
            {"rtletter.demo", "rtletter.demo.run"},
        ),
        ("agent", "agent/service.py", "from rtletter import demo", {"rtletter.demo"}),
        ("agent", "agent/jobs/store.py", "from ...demo import run", {"rtletter.demo", "rtletter.demo.run"}),
        ("agent", "agent/service.py", "importlib.import_module('rtletter.demo.run')", {"rtletter.demo.run"}),
        ("agent", "agent/cli.py", "from rtletter.demo import run", set()),  # allow-listed for now
        ("agent", "agent/service.py", "from rtletter.demonstration import x", set()),
        ("model", "model/cli.py", "import rtletter.agent.config", {"rtletter.agent.config"}),
        ("model", "model/cli.py", "from rtletter.demo import base_model", set()),  # allow-listed for now
        (
            "model",
            "model/serve.py",
            "from rtletter.demo import base_model",
            {"rtletter.demo", "rtletter.demo.base_model"},
        ),
        ("mappers", "mappers/case.py", "import torch", {"torch"}),
        ("mappers", "mappers/case.py", "import httpx", {"httpx"}),
        ("mappers", "mappers/case.py", "import sqlalchemy.orm", {"sqlalchemy.orm"}),
        ("mappers", "mappers/case.py", "from .. import model", {"rtletter.model"}),
        ("mappers", "mappers/case.py", "from rtletter.mappers.errors import MappingError", set()),
        ("mappers", "mappers/case.py", "import torchaudio_free_name", set()),
    ],
)
def test_the_check_catches_a_forbidden_import(top: str, rel: str, source: str, expected: set[str]) -> None:
    found = {v.split(" imports ")[1] for v in violations(top, rel, source, module_name(ROOT / rel))}
    assert found == expected
