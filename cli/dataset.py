"""``rtletter dataset build|export``: fine-tuning datasets from a synthetic cohort (``build``) or from the letters
physicians signed in the job store (``export --signed``).

Bad input exits 2 with one line on stderr; the messages name files and line numbers, never patient data. Heavy
imports happen inside the commands.
"""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.common import open_job_store
from rtletter.cli.errors import fail
from rtletter.model.errors import ModelError

SLOTS_HELP = "targets with fact slot ids in place of the case's values (model.fact_slots); --no-fact-slots: free text"
dataset_app = typer.Typer(help="Build fine-tuning datasets from (case, letter) pairs.", no_args_is_help=True)


@dataset_app.callback()
def _dataset() -> None:
    """Build fine-tuning datasets from (case, letter) pairs."""


@dataset_app.command("build")
def build(
    cohort: Annotated[Path, typer.Option(help="cohort folder written by `rtletter synth`")],
    out: Annotated[Path, typer.Option(help="output folder for train/validation/test.jsonl and stats.json")],
    tokenizer: Annotated[Path | None, typer.Option(help="tokenizer folder for exact token counts")] = None,
    max_length: Annotated[int, typer.Option(min=1, help="flag records with more tokens (kept, not dropped)")] = 4096,
    fact_slots: Annotated[bool, typer.Option(help=SLOTS_HELP)] = True,
) -> None:
    """Write train/validation/test JSONL (split by patient) and print token-length statistics."""
    from rtletter.model.dataset import build_dataset

    try:
        loaded = None
        if tokenizer is not None:
            from rtletter.model.components.loading import load_tokenizer

            loaded = load_tokenizer(tokenizer)
        stats = build_dataset(cohort, out, tokenizer=loaded, max_length=max_length, slots=fact_slots)
    except ModelError as exc:
        fail(str(exc))
    typer.echo(stats.summary())
    typer.echo(f"wrote {out}/train.jsonl, validation.jsonl, test.jsonl, stats.json")


@dataset_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="output folder for train/validation/test.jsonl and stats.json")],
    signed: Annotated[bool, typer.Option("--signed", help="physician-signed letters from the job store")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment)")] = None,
    since: Annotated[str | None, typer.Option(help="only letters signed on or after this date (YYYY-MM-DD)")] = None,
    max_length: Annotated[int, typer.Option(min=1, help="flag records with more tokens (kept, not dropped)")] = 4096,
    fact_slots: Annotated[bool, typer.Option(help=SLOTS_HELP)] = True,
) -> None:
    """Build the next fine-tuning set from signed letters (same format as `rtletter dataset build`)."""
    from rtletter.agent import AgentError
    from rtletter.agent.review.feedback import export_signed

    if not signed:
        fail("say what to export: --signed (physician-signed letters)")
    start = None
    if since is not None:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            fail(f"--since must be a date YYYY-MM-DD, not {since!r}")
    store = open_job_store(config)
    try:
        stats = export_signed(
            store, out, actor=f"cli:{getpass.getuser()}", since=start, max_length=max_length, slots=fact_slots
        )
    except (AgentError, ModelError, OSError) as exc:
        fail(str(exc))
    finally:
        store.dispose()
    typer.echo(stats.summary())
    typer.echo(f"wrote {out}/train.jsonl, validation.jsonl, test.jsonl, stats.json")
