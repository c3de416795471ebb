"""``rtletter config check|reference``: validate an agent YAML; print the configuration reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.common import read_settings, write_stdout
from rtletter.cli.errors import fail

config_app = typer.Typer(help="Check the agent's configuration; print its reference.", no_args_is_help=True)


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="agent YAML")]) -> None:
    """Validate FILE (and RTLETTER_* overrides); print a summary without secrets."""
    settings = read_settings(file)
    typer.echo(f"OK {file}")
    for line in settings.summary():
        typer.echo(f"  {line}")


@config_app.command("reference")
def config_reference(
    out: Annotated[Path | None, typer.Option(help="write here (docs/configuration.md) instead of stdout")] = None,
) -> None:
    """Print the configuration reference (Markdown), generated from the settings model."""
    from rtletter.agent.config_reference import render

    text = render()
    if out is None:
        write_stdout(text.rstrip("\n"))
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}")
