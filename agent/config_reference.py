"""The configuration reference (docs/configuration.md), generated from the ``Settings`` model so that it cannot drift.

    rtletter config reference --out docs/configuration.md
    python -m rtletter.agent.config_reference > docs/configuration.md

Each key's note is its ``Field(description=...)`` or else the comment at the end of its line in agent/config.py
(where the why of each setting already lives); a section's note is its class docstring.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, HttpUrl, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rtletter.agent.config import Settings

ENV_PREFIX = "RTLETTER_"
_LINE_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")
_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:(.*)$")
_CONSTANT = re.compile(r"^([A-Z][A-Z0-9_]*)[ \t]*=[^#\n]*#[ \t]*(.+)$", re.MULTILINE)

HEADER = """# Configuration reference

<!-- Generated from rtletter.agent.config.Settings by `rtletter config reference --out docs/configuration.md`.
     Do not edit by hand: tests/deploy/test_config_reference.py fails when this file and the code differ. -->

The agent reads one YAML file (`rtletter run --config FILE`, checked by `rtletter config check FILE`). Every key can
be overridden by an environment variable: `RTLETTER_` + the dotted path in capitals with `__` between levels
(`database.url` -> `RTLETTER_DATABASE__URL`). The environment wins over the file. Secrets (marked *secret*) have
no defaults and belong in the environment (a systemd `EnvironmentFile`, a Kubernetes Secret), never in the YAML.
Unknown keys are refused with their dotted path; relative paths are relative to the agent's working directory.

A channel is on when its section is present. Examples per site kind: `deploy/config/`.
"""


@cache
def _module_source(name: str) -> str:
    try:
        return inspect.getsource(sys.modules[name])
    except (OSError, TypeError, KeyError):
        return ""


def _class_source(cls: type) -> str:
    """The class body's lines (``inspect.getsource(cls)`` parses the whole module on each call: too slow here)."""
    lines = _module_source(cls.__module__).splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"class {cls.__name__}\b", line)), None)
    if start is None:
        return ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "#")), len(lines))
    return "\n".join(lines[start:end])


def _comments(cls: type) -> dict[str, str]:
    """``name: type = default  # comment`` lines of a class body, by field name; a line without a comment of its
    own takes the comment of the module constant it uses as default (``= FHIR_POLL_OVERLAP_S  # why``)."""
    constants = dict(_CONSTANT.findall(_module_source(cls.__module__)))
    found: dict[str, str] = {}
    for line in _class_source(cls).splitlines():
        match = _LINE_COMMENT.match(line)
        if match:
            found.setdefault(match.group(1), match.group(2).strip())
            continue
        field = _FIELD_LINE.match(line)
        if field:
            for name in re.findall(r"\b[A-Z][A-Z0-9_]+\b", field.group(2)):
                if name in constants:
                    found.setdefault(field.group(1), constants[name].strip())
    return found


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return list(get_args(annotation))
    if origin is not None and getattr(origin, "__name__", "") == "Annotated":
        return _members(get_args(annotation)[0])
    return [annotation]


def _type_name(annotation: Any) -> str:
    members = [m for m in _members(annotation) if m is not type(None)]
    optional = len(members) < len(_members(annotation))
    names = []
    for member in members:
        if get_origin(member) is Literal:
            names.append(" \\| ".join(f"`{value}`" for value in get_args(member)))
        elif member is SecretStr:
            names.append("string (secret)")
        elif member is HttpUrl:
            names.append("URL")
        elif member is Path:
            names.append("path")
        elif _is_model(member):
            names.append("section")
        else:
            names.append(getattr(member, "__name__", str(member)))
    text = " \\| ".join(names)
    return f"{text} \\| null" if optional else text


def _constraints(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "null"
    if _is_model(type(value)):
        return "(section)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    if isinstance(value, float) and value.is_integer():
        return f"`{value:g}`"
    return f"`{value}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _section_rows(model: type[BaseModel], prefix: tuple[str, ...]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Rows of this section's plain keys, and the nested sections to render after it."""
    comments = _comments(model)
    rows: list[str] = []
    nested: list[tuple[Any, ...]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = (*prefix, key)
        models = [m for m in _members(info.annotation) if _is_model(m)]
        if models:
            nested.append((path, models, info))
            continue
        note = info.description or comments.get(name, "")
        if _members(info.annotation) and SecretStr in _members(info.annotation):
            note = ("*secret*: set it in the environment. " + note).strip()
        limits = _constraints(info)
        if limits:
            note = f"{limits}; {note}" if note else limits
        env = ENV_PREFIX + "__".join(part.upper() for part in path)
        rows.append(
            f"| `{'.'.join(path)}` | {_type_name(info.annotation)} | {_escape(_default(info))} | `{env}` "
            f"| {_escape(note)} |"
        )
    return rows, nested


def _render_section(model: type[BaseModel], path: tuple[str, ...], info: FieldInfo | None, out: list[str]) -> None:
    title = ".".join(path)
    variant = ""
    kind = model.model_fields.get("kind")
    if (
        kind is not None
        and get_origin(kind.annotation) is Literal
        and len(_members(info.annotation) if info else []) > 1
    ):
        variant = f" (kind: `{get_args(kind.annotation)[0]}`)"
    out.append(f"## `{title}`{variant}\n")
    doc = inspect.getdoc(model)
    if doc and model.__doc__:  # own docstring only, not BaseModel's
        out.append(doc.replace("\n", " ") + "\n")
    if info is not None:
        presence = "optional section (absent: off)" if not info.is_required() and info.default is None else ""
        if presence:
            out.append(f"*{presence}*\n")
    rows, nested = _section_rows(model, path)
    if rows:
        out.append("| key | type | default | environment | notes |")
        out.append("|---|---|---|---|---|")
        out.extend(rows)
        out.append("")
    for sub_path, models, sub_info in nested:
        for sub_model in models:
            _render_section(sub_model, sub_path, sub_info, out)


def render() -> str:
    """The whole reference as Markdown."""
    out = [HEADER]
    for name, info in Settings.model_fields.items():
        for model in (m for m in _members(info.annotation) if _is_model(m)):
            _render_section(model, (info.alias or name,), info, out)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
