"""``rtletter synth``, ``rtletter demo`` and ``rtletter model build-base``: the demo's commands.

The only module of the product that imports ``rtletter.demo`` (tests/test_layout.py checks it); always inside the
commands, so that ``rtletter --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.errors import fail


def synth(
    out: Annotated[Path, typer.Option(help="output folder")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of patients")] = 50,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    lang: Annotated[str, typer.Option(help="letter language: de or en")] = "de",
) -> None:
    """Write a synthetic cohort: per patient a FHIR bundle, HL7 v2 messages and a reference letter."""
    from rtletter.demo.cohort import write_cohort

    if lang not in ("de", "en"):
        fail(f"--lang must be de or en, not {lang!r}")
    summary = write_cohort(out, n=n, seed=seed, lang=lang)
    typer.echo(summary)


def demo(
    work: Annotated[Path, typer.Option(help="work folder; reused between runs")] = Path("var/demo"),
    stage: Annotated[str, typer.Option(help="all, mapping, model or agent")] = "all",
    n: Annotated[int | None, typer.Option("--n", min=2, help="synthetic patients (default 220)")] = None,
    seed: Annotated[int | None, typer.Option(help="the cohort's seed (default 7)")] = None,
    courses: Annotated[
        int | None, typer.Option(min=0, help="courses the agent drafts, held-out first (default 8; 0: all)")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="rebuild everything: cohort, base model, adapter, reports")] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the FHIR server running after the agent stage, until Ctrl-C")
    ] = False,
) -> None:
    """Run the main job on embedded defaults with synthetic patients (what `make demo` runs)."""
    from rtletter.agent import AgentError
    from rtletter.demo import run as demo_module
    from rtletter.demo.errors import DemoError
    from rtletter.model.errors import ModelError

    if stage not in demo_module.STAGES:
        fail(f"--stage must be one of {', '.join(demo_module.STAGES)}, not {stage!r}")
    try:
        code = demo_module.run_demo(
            work,
            stage=stage,
            patients=n or demo_module.DEMO_PATIENTS,
            seed=demo_module.DEMO_SEED if seed is None else seed,
            courses=demo_module.DEMO_COURSES if courses is None else (courses or None),
            fresh=fresh,
            keep=keep,
        )
    except (AgentError, ModelError, DemoError) as exc:  # messages name files and fields, never patient data
        fail(f"demo: {exc}")
    raise typer.Exit(code)


def build_base_command(
    out: Annotated[Path, typer.Option(help="folder for the base model (reused when complete)")],
    config: Annotated[Path | None, typer.Option(help="YAML config, e.g. model/configs/tiny/base.yaml")] = None,
    seed: Annotated[int | None, typer.Option(help="training seed (overrides the config)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="config override key=value")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when the folder is complete")] = False,
) -> None:
    """Train the demo base (tokenizer + small Llama) offline, or reuse the folder if it is complete."""
    from rtletter.demo.base_model import build_base, is_complete
    from rtletter.model.errors import ModelError

    reused = is_complete(out) and not force
    try:
        build_base(out, config, set_, seed=seed, force=force)
    except ModelError as exc:
        fail(str(exc))
    typer.echo(f"{'reused' if reused else 'built'} base model in {out}")
