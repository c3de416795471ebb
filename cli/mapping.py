"""``rtletter case`` and ``rtletter prompt``: map a FHIR bundle or HL7 v2 message(s) and print the case or the
prompt. Nothing but ``mappers`` is imported, inside the commands, so that they start fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rtletter.cli.common import write_stdout
from rtletter.cli.errors import EXIT_FAILURE, fail
from rtletter.mappers.errors import MappingError

if TYPE_CHECKING:
    from rtletter.mappers.case import Case

FileArgument = Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message(s) ('-' for stdin)")]
LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="letter language de or en (default: the case's own, German unless set)"),
]
ProfileOption = Annotated[
    Path | None,
    typer.Option("--profile", help="the site's HL7 v2 profile (YAML); default: the shipped profile"),
]


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


def _load(file: Path, lang: str | None, profile: Path | None) -> list[Case]:
    """Read and map FILE; every failure becomes one line on stderr (exit 2, or 1 for a bug), never a traceback."""
    from rtletter.mappers.load import load_cases

    if lang not in (None, "de", "en"):
        fail("--lang must be de or en")
    data = _read_input(file)
    try:
        v2_profile = None
        if profile is not None:
            from rtletter.mappers.hl7v2 import load_profile

            v2_profile = load_profile(profile)
        cases: list[Case] = load_cases(data, v2_profile=v2_profile)
    except MappingError as exc:
        fail(str(exc).replace("\n", " "))
    except Exception as exc:  # a mapper bug; its message may quote the input (PHI), so only the type is shown
        fail(f"internal error while mapping ({type(exc).__name__}); please report it with the input", EXIT_FAILURE)
    if lang is not None:
        cases = [item.model_copy(update={"language": lang}) for item in cases]
    return cases


def case(file: FileArgument, lang: LangOption = None, profile: ProfileOption = None) -> None:
    """Print the normalised case(s) of FILE as a JSON list (FHIR or HL7 v2, detected from content)."""
    cases = _load(file, lang, profile)
    write_stdout(json.dumps([item.model_dump(mode="json") for item in cases], ensure_ascii=False, indent=2))


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
        write_stdout(json.dumps([list(chat) for chat in built], ensure_ascii=False, indent=2))
    else:
        write_stdout("\n".join(render_chat(chat) for chat in built))
