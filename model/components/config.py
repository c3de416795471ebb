"""Recipe configs: a YAML file of flat keys read into a dataclass, plus ``key=value`` overrides from the command line.

Flat keys keep the files readable and make an override a plain ``--set lr=1e-4``; the dataclass gives each key a type
and a default, and rejects typos instead of ignoring them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rtletter.model.errors import RecipeConfigError

T = TypeVar("T")


def load_config(cls: type[T], path: Path | None = None, overrides: list[str] | None = None) -> T:
    """Build the dataclass ``cls`` from a YAML file and overrides.

    Args:
        cls: a dataclass whose fields are the config keys.
        path: YAML file of ``key: value`` pairs (None: the dataclass defaults).
        overrides: ``key=value`` strings; the value is parsed as YAML (``lr=2e-4``, ``method=lora``).

    Returns:
        An instance of ``cls``.

    Raises:
        RecipeConfigError: the file cannot be read or parsed, an override lacks ``=``, or a key is unknown.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RecipeConfigError(f"cannot read config {path}: {exc.__class__.__name__}") from exc
        if not isinstance(loaded, dict):
            raise RecipeConfigError(f"config {path} must be a mapping of keys to values")
        values.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RecipeConfigError(f"override {item!r} must look like key=value")
        values[key.strip()] = yaml.safe_load(raw)
    known = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise RecipeConfigError(f"unknown config key(s) for {cls.__name__}: {', '.join(unknown)}")
    for key, value in list(values.items()):
        # YAML reads 2e-4 as a string (YAML 1.1 wants a dot); coerce to the field's declared float type.
        if known[key].type in ("float", float) and isinstance(value, str | int):
            try:
                values[key] = float(value)
            except ValueError as exc:
                raise RecipeConfigError(f"config key {key} must be a number") from exc
    return cls(**values)


def config_dict(config: object) -> dict[str, Any]:
    """The config as a plain dict, for run cards and checkpoints."""
    return dataclasses.asdict(config)  # type: ignore[call-overload, no-any-return]
