"""The dependency direction between the top-level packages, read from the source with ``ast`` (nothing is imported).

- the product packages (agent, model, mappers) never import ``rtletter.demo``: only the command line composes the
  demo's commands, and within it only ``cli/demo.py`` (tests and bench may import it too);
- nothing but the command line's entry point imports ``rtletter.cli``: agent, model, mappers and demo never do;
- ``mappers`` is pure: no ``rtletter.agent``, ``rtletter.model``, torch, httpx or sqlalchemy;
- ``model`` never imports ``rtletter.agent``.

Every import counts, also the lazy ones inside functions and ``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("agent", "cli", "demo", "mappers", "model")  # every folder in setup.py's TOPS

# The one command-line module that composes the demo's commands (`rtletter demo`, `rtletter synth`,
# `rtletter model build-base`).
DEMO_COMMANDS = "cli/demo.py"

# Package -> module prefixes it must never import.
FORBIDDEN = {
    "agent": ("rtletter.demo", "rtletter.cli"),
    "cli": ("rtletter.demo",),  # but DEMO_COMMANDS
    "demo": ("rtletter.cli",),
    "model": ("rtletter.demo", "rtletter.agent", "rtletter.cli"),
    "mappers": ("rtletter.demo", "rtletter.agent", "rtletter.model", "rtletter.cli", "torch", "httpx", "sqlalchemy"),
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
            if prefix == "rtletter.demo" and rel == DEMO_COMMANDS:
                continue
            if name == prefix or name.startswith(prefix + "."):
                out.append(f"{rel} imports {name}")
    return out


def package_files(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("top", CHECKED)
def test_packages_keep_the_dependency_direction(top: str) -> None:
    files = package_files(top)
    assert files, f"no Python files under {top}/"
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        found += violations(top, rel, path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert found == []


def test_every_top_level_package_is_checked() -> None:
    # A new folder in setup.py's TOPS gets rules here, or it could import the demo or the CLI unnoticed.
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    tops = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TOPS"
    )
    assert sorted(tops) == sorted(CHECKED) == sorted(FORBIDDEN)
    assert (ROOT / DEMO_COMMANDS).is_file()  # a moved demo module must move the exception with it
    assert all("rtletter.cli" in FORBIDDEN[top] for top in CHECKED if top != "cli")
    assert all("rtletter.demo" in FORBIDDEN[top] for top in CHECKED if top != "demo")


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
        ("agent", "agent/cli.py", "from rtletter.demo import run", {"rtletter.demo", "rtletter.demo.run"}),
        ("agent", "agent/service.py", "from rtletter.cli import fail", {"rtletter.cli", "rtletter.cli.fail"}),
        (
            "agent",
            "agent/review/service.py",
            "from ...cli.errors import fail",
            {"rtletter.cli.errors", "rtletter.cli.errors.fail"},
        ),
        ("agent", "agent/service.py", "from rtletter.demonstration import x", set()),
        ("model", "model/cli.py", "import rtletter.agent.config", {"rtletter.agent.config"}),
        (
            "model",
            "model/cli.py",
            "from rtletter.demo import base_model",
            {"rtletter.demo", "rtletter.demo.base_model"},
        ),
        ("model", "model/serve.py", "import rtletter.cli.errors", {"rtletter.cli.errors"}),
        ("demo", "demo/run.py", "from rtletter.cli import app", {"rtletter.cli", "rtletter.cli.app"}),
        ("demo", "demo/run.py", "from rtletter.demonstration_cli import x", set()),
        ("cli", "cli/demo.py", "from rtletter.demo import run", set()),
        ("cli", "cli/demo.py", "from rtletter.demo.base_model import build_base", set()),
        ("cli", "cli/model.py", "from rtletter.demo import base_model", {"rtletter.demo", "rtletter.demo.base_model"}),
        ("cli", "cli/__init__.py", "import rtletter.demo.run", {"rtletter.demo.run"}),
        ("cli", "cli/agent.py", "from rtletter.agent.service import run", set()),
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
        (
            "mappers",
            "mappers/case.py",
            "from rtletter.cli.errors import fail",
            {"rtletter.cli.errors", "rtletter.cli.errors.fail"},
        ),
        ("mappers", "mappers/case.py", "from rtletter.mappers.errors import MappingError", set()),
        ("mappers", "mappers/case.py", "import torchaudio_free_name", set()),
    ],
)
def test_the_check_catches_a_forbidden_import(top: str, rel: str, source: str, expected: set[str]) -> None:
    found = {v.split(" imports ")[1] for v in violations(top, rel, source, module_name(ROOT / rel))}
    assert found == expected
