"""What several command groups share: the ``--config`` option, the agent's settings and job store opened with
errors turned into one-line failures, and UTF-8 output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rtletter.cli.errors import fail

if TYPE_CHECKING:
    from rtletter.agent import JobStore, Settings

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment only)")]


def read_settings(path: Path | None) -> Settings:
    """The agent's settings from PATH (and RTLETTER_* variables); a bad setting fails with its message."""
    from rtletter.agent import ConfigError, load_settings

    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(str(exc))


def open_job_store(path: Path | None) -> JobStore:
    """The job store the settings at PATH name; an unreachable database fails with its message."""
    from rtletter.agent import JobStoreError, open_store

    try:
        return open_store(read_settings(path))
    except JobStoreError as exc:
        fail(str(exc))


def write_stdout(text: str) -> None:
    """UTF-8 on stdout whatever the locale says (names and doses carry umlauts and ×)."""
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()
