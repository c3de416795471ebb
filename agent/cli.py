"""The ``rtletter`` command line. Only this module turns errors into exit codes and one-line messages.

Sub-command groups live beside the code they drive (``rtletter.model.cli``); heavy imports (torch) happen inside
commands so that ``rtletter --help`` and the mapping commands start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from rtletter.mappers.errors import MappingError

if TYPE_CHECKING:
    from rtletter.mappers.case import Case

app = typer.Typer(
    help="Draft radiotherapy end-of-treatment letters on premises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, no traceback, non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _read_input(path: Path) -> bytes:
    """The bytes of FILE or stdin (``-``), refused past the mapping size limit without reading it all."""
    from rtletter.mappers.load import MAX_INPUT_BYTES

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as stream:
                data = stream.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")
    if len(data) > MAX_INPUT_BYTES:
        fail(f"cannot read {path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return data


def _write(text: str) -> None:
    """UTF-8 on stdout whatever the locale says (names and doses carry umlauts and ×)."""
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


FileArgument = Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message(s) ('-' for stdin)")]
LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="letter language de or en (default: the case's own, German unless set)"),
]
ProfileOption = Annotated[
    Path | None,
    typer.Option("--profile", help="the site's HL7 v2 profile (YAML); default: the shipped profile"),
]


def _load(file: Path, lang: str | None, profile: Path | None) -> list[Case]:
    """Read and map FILE; every failure becomes one line on stderr (exit 2, or 1 for a bug), never a traceback."""
    from rtletter.mappers.load import load_cases

    if lang not in (None, "de", "en"):
        fail("--lang must be de or en")
    data = _read_input(file)
    try:
        v2_profile = None
        if profile is not None:
            from rtletter.mappers.v2_profile import load_profile

            v2_profile = load_profile(profile)
        cases = load_cases(data, v2_profile=v2_profile)
    except MappingError as exc:
        fail(str(exc).replace("\n", " "))
    except Exception as exc:  # a mapper bug; its message may quote the input (PHI), so only the type is shown
        fail(f"internal error while mapping ({type(exc).__name__}); please report it with the input", code=1)
    if lang is not None:
        cases = [item.model_copy(update={"language": lang}) for item in cases]
    return cases


@app.command()
def case(file: FileArgument, lang: LangOption = None, profile: ProfileOption = None) -> None:
    """Print the normalised case(s) of FILE as a JSON list (FHIR or HL7 v2, detected from content)."""
    cases = _load(file, lang, profile)
    _write(json.dumps([item.model_dump(mode="json") for item in cases], ensure_ascii=False, indent=2))


@app.command()
def prompt(
    file: FileArgument,
    max_tokens: Annotated[int, typer.Option(min=1, help="token budget of each prompt (chars/3.5 estimate)")] = 3072,
    lang: LangOption = None,
    profile: ProfileOption = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="folder with the site's prompt templates (system.de.j2, system.en.j2, user.j2)"),
    ] = None,
    messages: Annotated[bool, typer.Option("--messages", help="print the chat messages as JSON instead")] = False,
) -> None:
    """Print the prompt for each case of FILE, rendered in the Llama-3 chat format."""
    import jinja2

    from rtletter.mappers.prompt import build_messages, render_chat

    if templates is not None and not templates.is_dir():
        fail(f"--templates {templates} is not a folder")
    built = []
    for number, item in enumerate(_load(file, lang, profile), start=1):
        try:
            chat = build_messages(item, max_tokens=max_tokens, template_dir=templates)
        except jinja2.TemplateError as exc:  # a site template with a syntax error or an unknown variable
            fail(f"prompt template: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        budget = chat.budget
        if budget.over_budget:
            typer.echo(
                f"warning: case {number}: prompt has {budget.tokens} tokens, over the budget of {max_tokens}, "
                "with only diagnoses and course left",
                err=True,
            )
        elif budget.dropped:
            dropped = ", ".join(f"{label} {count}" for label, count in budget.dropped.items())
            typer.echo(f"note: case {number}: dropped to fit {max_tokens} tokens: {dropped}", err=True)
        built.append(chat)
    if messages:
        _write(json.dumps([list(chat) for chat in built], ensure_ascii=False, indent=2))
    else:
        _write("\n".join(render_chat(chat) for chat in built))


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
