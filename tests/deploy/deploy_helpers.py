"""Helpers for the checks of deploy/ and docs/: YAML with the Compose merge tags, vendored JSON schemas, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs"
SCHEMAS = Path(__file__).parent / "schemas"
SCRIPT = Path(sys.executable).parent / "rtletter"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "rtletter.cli"]


class Tagged:
    """A value under a Compose merge tag (``!reset`` / ``!override``)."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader that knows Compose's ``!reset`` and ``!override`` tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Tagged(node.tag, value)


ComposeLoader.add_constructor("!reset", _tagged)
ComposeLoader.add_constructor("!override", _tagged)


def untag(value: Any) -> Any:
    """The document as plain data (what the schema sees): tags dropped, values kept."""
    if isinstance(value, Tagged):
        return untag(value.value) if value.tag == "!override" else ([] if isinstance(value.value, list) else {})
    if isinstance(value, dict):
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def load_compose(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=ComposeLoader)  # noqa: S506 - SafeLoader subclass


def run_cli(*argvs: list[str], env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Run the real console script, all commands at once (each is mostly interpreter start-up)."""
    return run_cli_each([(argv, env or {}) for argv in argvs])


def run_cli_each(commands: list[tuple[list[str], dict[str, str]]]) -> list[subprocess.CompletedProcess[str]]:
    """Like run_cli, each command with its own extra environment."""
    procs = [
        subprocess.Popen(
            [*COMMAND, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            cwd=ROOT,
        )
        for argv, env in commands
    ]
    results = []
    for proc, (argv, _) in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess([*COMMAND, *argv], proc.returncode, out, err))
    return results


def invoke(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The same CLI in this process (typer's runner): for many quick calls where start-up would dominate."""
    from typer.testing import CliRunner

    from rtletter.cli import app

    result = CliRunner().invoke(app, argv, env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(["rtletter", *argv], result.exit_code, result.stdout, result.stderr)
