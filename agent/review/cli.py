"""``rtletter dataset export --signed --out DIR``: the model's ``dataset`` group gains an agent-side command (the
model package must not import the agent, so the command is defined here and added in ``rtletter.agent.cli``)."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer


def export_command(
    out: Annotated[Path, typer.Option(help="output folder for train/validation/test.jsonl and stats.json")],
    signed: Annotated[bool, typer.Option("--signed", help="physician-signed letters from the job store")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment)")] = None,
    since: Annotated[str | None, typer.Option(help="only letters signed on or after this date (YYYY-MM-DD)")] = None,
    max_length: Annotated[int, typer.Option(min=1, help="flag records with more tokens (kept, not dropped)")] = 4096,
) -> None:
    """Build the next fine-tuning set from signed letters (same format as `rtletter dataset build`)."""
    from rtletter.agent.cli import _store, fail
    from rtletter.agent.errors import AgentError
    from rtletter.agent.review.feedback import export_signed
    from rtletter.model.errors import ModelError

    if not signed:
        fail("say what to export: --signed (physician-signed letters)")
    start = None
    if since is not None:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            fail(f"--since must be a date YYYY-MM-DD, not {since!r}")
    store = _store(config)
    try:
        stats = export_signed(store, out, actor=f"cli:{getpass.getuser()}", since=start, max_length=max_length)
    except (AgentError, ModelError, OSError) as exc:
        fail(str(exc))
    finally:
        store.dispose()
    typer.echo(stats.summary())
    typer.echo(f"wrote {out}/train.jsonl, validation.jsonl, test.jsonl, stats.json")


def register(dataset_app: typer.Typer) -> None:
    dataset_app.command("export")(export_command)
