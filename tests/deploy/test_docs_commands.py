"""Every `rtletter ...` command that docs/ and README.md show exists in the CLI, with the options shown.

A command is taken from inline code that starts with `rtletter` and from code-block lines (and their `&&`, `;`,
`|` pieces) whose program is `rtletter` (or a path ending in /bin/rtletter), after any VAR=value prefixes. A
command that the docs mention before it exists must say so on the same line with the marker below; once the
command exists the marker must go (the test says where)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main

from rtletter.cli import app
from tests.deploy.deploy_helpers import DOCS, ROOT, invoke, run_cli

NOT_YET = "not yet in the CLI"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


@dataclass(frozen=True)
class Mention:
    where: str
    words: tuple[str, ...]
    marked: bool


def _tokens(piece: str) -> list[str] | None:
    try:
        words = shlex.split(piece, comments=False)
    except ValueError:
        return None
    while words and (re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]) or words[0] in ("sudo", "exec", "time")):
        words = words[1:]
        while words and words[0].startswith("-") and words[0] != "--":  # sudo -u rtletter
            words = words[2:] if words[0] in ("-u", "-g") else words[1:]
    if words and (words[0] == "rtletter" or words[0].endswith("/bin/rtletter")):
        return words[1:]
    return None


def _logical_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, text, inside a fenced block); outside blocks an inline code span that wraps onto the next
    line is joined with it."""
    out: list[tuple[int, str, bool]] = []
    lines = text.splitlines()
    in_block = False
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            while line.count("`") % 2 and index < len(lines) and not lines[index].lstrip().startswith("```"):
                line = f"{line} {lines[index].strip()}"
                index += 1
        out.append((number, line, in_block))
    return out


def mentions(path: Path) -> list[Mention]:
    found: list[Mention] = []
    where_path = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for number, line, in_block in _logical_lines(path.read_text(encoding="utf-8")):
        marked = NOT_YET in line
        code = [line] if (in_block or line.startswith("    ")) else re.findall(r"`([^`]+)`", line)
        for snippet in code:
            for piece in re.split(r"&&|\|\||;|\|", snippet.replace("$ ", "", 1)):
                words = _tokens(piece.strip().rstrip("\\").strip())
                if words is not None:
                    found.append(Mention(f"{where_path}:{number}", tuple(words), marked))
    return found


@cache
def _root() -> Any:
    return typer.main.get_command(app)  # typer >= 0.20 vendors click: groups are duck-typed (``.commands``)


def resolve(words: tuple[str, ...]) -> tuple[Any, list[str], list[str]]:
    """The command the words name, the path that resolved, and the long options given after it."""
    command: Any = _root()
    path: list[str] = []
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            return None, [*path, rest[0]], []
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    if hasattr(command, "commands") and path:  # a group alone: `rtletter jobs` is fine in prose
        return command, path, []
    options = [w.split("=", 1)[0] for w in rest if w.startswith("--") and w != "--"]
    return command, path, options


def _all_mentions() -> list[Mention]:
    return [m for page in PAGES for m in mentions(page)]


def test_docs_mention_commands() -> None:
    found = _all_mentions()
    assert len(found) >= 20, "the docs parser found hardly any commands: has the format changed?"
    assert any(m.words[:2] == ("config", "check") for m in found)


def problems(found: list[Mention]) -> list[str]:
    out = []
    for mention in found:
        command, path, options = resolve(mention.words)
        name = "rtletter " + " ".join(path)
        if command is None:
            if not mention.marked:
                out.append(f"{mention.where}: `{name}` is not a command (say '{NOT_YET}' on the line if planned)")
            continue
        if mention.marked:
            out.append(f"{mention.where}: `{name}` exists now: drop '{NOT_YET}'")
            continue
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
        out += [f"{mention.where}: `{name}` has no option {opt}" for opt in options if opt not in known]
    return out


def test_documented_commands_and_options_exist() -> None:
    assert problems(_all_mentions()) == []


def test_planned_commands_are_marked_and_the_mark_goes_once_they_exist(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "`rtletter frobnicate --now` (not yet in the CLI)\n\n`rtletter run --once` (not yet in the CLI)\n",
        encoding="utf-8",
    )
    assert [p.split(": ", 1)[1] for p in problems(mentions(page))] == [f"`rtletter run` exists now: drop '{NOT_YET}'"]


def test_the_check_catches_a_wrong_command_and_option(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Run `rtletter jobs purge` then\n\n    rtletter config check --strict a.yaml\n", encoding="utf-8")
    (bad_command, bad_option) = mentions(page)
    assert resolve(bad_command.words)[0] is None
    assert resolve(bad_option.words)[2] == ["--strict"]


@pytest.mark.parametrize("argv", [["--help"], ["config", "--help"], ["jobs", "--help"], ["model", "--help"]])
def test_help_of_the_groups_the_docs_use(argv: list[str]) -> None:
    assert invoke(argv).returncode == 0


def test_console_script_help_lists_the_documented_top_level_commands() -> None:
    (result,) = run_cli(["--help"])
    assert result.returncode == 0
    tops = {m.words[0] for m in _all_mentions() if m.words and not m.marked and not m.words[0].startswith("-")}
    missing = [name for name in sorted(tops) if not re.search(rf"^\W*{re.escape(name)}\s", result.stdout, re.M)]
    assert missing == []


def test_relative_links_in_the_docs_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
