"""``rtletter eval form|import`` (physician review sheets) and ``rtletter model eval`` (``eval_command``, which
the model group registers).

Bad input (missing files, drafts for unknown cases, a malformed JSONL line) exits 2 with one line on stderr; the
messages name files and line numbers, never patient data. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.errors import fail
from rtletter.model.errors import ModelError

DEFAULT_EVAL_DIR = Path("var/eval")

eval_app = typer.Typer(help="Physician review sheets: export and import.", no_args_is_help=True)


@eval_app.callback()
def _eval() -> None:
    """Physician review sheets: export and import."""


def eval_command(
    data: Annotated[Path, typer.Option(help="test.jsonl written by `rtletter dataset build`")],
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter folder (the fine-tuned model)")] = None,
    base: Annotated[Path | None, typer.Option(help="base model folder (default: the adapter's base)")] = None,
    baseline: Annotated[bool, typer.Option(help="also draft with the base model, for comparison")] = True,
    out: Annotated[Path, typer.Option(help="report folder")] = DEFAULT_EVAL_DIR,
    limit: Annotated[int | None, typer.Option(min=1, help="evaluate the first N cases only")] = None,
    drafts: Annotated[Path | None, typer.Option(help="score these drafts (JSONL) instead of generating")] = None,
    physician: Annotated[Path | None, typer.Option(help="ratings JSON from `rtletter eval import`")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="longest draft in tokens")] = 1024,
    template: Annotated[
        bool, typer.Option(help="also the template backend's letters (no model), as a baseline")
    ] = False,
    free_text: Annotated[
        Path | None,
        typer.Option(
            help="drafts.jsonl of an adapter trained without fact slots (same test cases): slots vs free text"
        ),
    ] = None,
    redraft: Annotated[
        int,
        typer.Option(
            min=0,
            help="sampled candidates per faulted fine-tuned draft, as the agent's model.redraft: "
            "adds the system 'redrafted' (0: first drafts only)",
        ),
    ] = 0,
) -> None:
    """Draft the test cases with the fine-tuned and the base model, score them, write report.md and report.html."""
    from rtletter.model.evaluate.recipe import evaluate
    from rtletter.model.evaluate.report import print_summary

    try:
        evaluation = evaluate(
            data,
            base=base,
            adapter=adapter,
            baseline=baseline,
            out=out,
            limit=limit,
            drafts=drafts,
            physician=physician,
            max_new_tokens=max_new_tokens,
            template=template,
            free_text=free_text,
            redraft=redraft,
        )
    except ModelError as exc:
        fail(str(exc))
    typer.echo(print_summary(evaluation))
    typer.echo(f"report: {out / 'report.html'} and {out / 'report.md'}")


@eval_app.command("form")
def form(
    data: Annotated[Path, typer.Option(help="test.jsonl the drafts were written for")],
    drafts: Annotated[Path, typer.Option(help="drafts JSONL (drafts.jsonl of `rtletter model eval`)")],
    out: Annotated[Path, typer.Option(help="folder for review.html, review.csv and items.json")],
    system: Annotated[list[str] | None, typer.Option(help="only drafts of this system (repeatable)")] = None,
) -> None:
    """Export blinded review sheets (HTML and CSV) with 4-point scales for physicians."""
    from rtletter.model.evaluate.physician import export_forms
    from rtletter.model.evaluate.scores import read_data, read_drafts

    try:
        folder = export_forms(read_data(data), read_drafts(drafts), out, systems=system or None)
    except ModelError as exc:
        fail(str(exc))
    typer.echo(f"wrote {folder}/review.html, review.csv and items.json (keep items.json from the reviewers)")


@eval_app.command("import")
def import_(
    sheets: Annotated[list[Path], typer.Argument(help="filled review CSV sheets")],
    form_dir: Annotated[Path, typer.Option("--form", help="the folder `rtletter eval form` wrote")],
    out: Annotated[Path, typer.Option(help="ratings JSON for `rtletter model eval --physician`")],
) -> None:
    """Validate filled sheets and aggregate them: mean ± sd per criterion, cases, reviewers."""
    from rtletter.model.evaluate.physician import import_sheets

    try:
        result = import_sheets(sheets, form_dir)
    except ModelError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for system, block in result["systems"].items():
        criteria = ", ".join(f"{c} {s['mean']:.2f} ± {s['sd']:.2f}" for c, s in block["criteria"].items())
        typer.echo(f"{system}: {criteria} ({block['n_cases']} cases, {block['n_reviewers']} reviewers)")
        for reviewer, own in block["per_reviewer"].items():
            typer.echo(f"  {reviewer}: " + ", ".join(f"{c} {m:.2f}" for c, m in own["criteria"].items()))
    alphas = result["agreement"]["criteria"]
    typer.echo(
        f"agreement (Krippendorff's alpha, {result['agreement']['metric']}): "
        + ", ".join(f"{c} {'-' if a['alpha'] is None else format(a['alpha'], '.2f')}" for c, a in alphas.items())
    )
    typer.echo(f"wrote {out}")
