"""The ``rtletter`` command line. Only this module turns errors into exit codes and one-line messages.

Sub-command groups live beside the code they drive (``rtletter.model.cli``); heavy imports (torch) happen inside
commands so that ``rtletter --help`` and the mapping commands start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from rtletter.mappers.errors import MappingError

app = typer.Typer(help="Draft radiotherapy end-of-treatment letters on premises.", no_args_is_help=True,
                  pretty_exceptions_enable=False)

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, no traceback, non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _read_input(path: Path) -> bytes:
    try:
        return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


@app.command()
def case(file: Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message ('-' for stdin)")]) -> None:
    """Print the normalised case(s) of FILE as JSON (FHIR or HL7 v2, detected from content)."""
    from rtletter.mappers.load import load_cases

    try:
        cases = load_cases(_read_input(file))
    except MappingError as exc:
        fail(str(exc))
    typer.echo("[" + ",\n".join(c.model_dump_json(indent=2) for c in cases) + "]")


@app.command()
def prompt(
    file: Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message ('-' for stdin)")],
    max_tokens: Annotated[int, typer.Option(help="token budget of the prompt")] = 3072,
) -> None:
    """Print the prompt for each case of FILE, rendered in the Llama-3 chat format."""
    from rtletter.mappers.load import load_cases
    from rtletter.mappers.prompt import build_messages, render_chat

    try:
        cases = load_cases(_read_input(file))
    except MappingError as exc:
        fail(str(exc))
    for item in cases:
        typer.echo(render_chat(build_messages(item, max_tokens=max_tokens)))


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="output folder")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of patients")] = 50,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    lang: Annotated[str, typer.Option(help="letter language: de or en")] = "de",
) -> None:
    """Write a synthetic cohort: per patient a FHIR bundle, HL7 v2 messages and a reference letter."""
    from rtletter.agent.cohort import write_cohort

    if lang not in ("de", "en"):
        fail(f"--lang must be de or en, not {lang!r}")
    summary = write_cohort(out, n=n, seed=seed, lang=lang)
    typer.echo(summary)


@app.command()
def demo(
    work: Annotated[Path, typer.Option(help="work folder; reused between runs")] = Path("var/demo"),
) -> None:
    """Run the main job on embedded defaults with synthetic patients (what `make demo` runs)."""
    from rtletter.agent.demo import run_demo

    raise typer.Exit(run_demo(work))


def _register_groups() -> None:
    try:
        from rtletter.model.cli import model_app
        from rtletter.model.eval_cli import dataset_app, eval_app
    except ImportError:  # the model package is optional while it is being built
        return
    app.add_typer(model_app, name="model")
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(eval_app, name="eval")


_register_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
