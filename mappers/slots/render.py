"""Slot values -> letter text: the one place where values get their locale format, and ``fill`` for model output.

A slot in a text is ``[id]`` or ``[id:form]``; the form picks a way of writing the same value that letters use:

=========  ===========================  =============================
kind       forms (de example)           (en example)
=========  ===========================  =============================
dose       ``50,4 Gy``; num ``50,4``    ``50.4 Gy``; num ``50.4``
date       ``02.03.2026``; dmy1         ``2 March 2026``; dmy
           ``2.3.2026``; dm ``02.03.``  ``02.03.2026``; dm ``2 March``;
           my ``03/2026``; month        my, month ``March 2026``;
           ``März 2026``; long ``2.     mdy ``March 2, 2026``; iso
           März 2026``; iso
text/drug  as written; cap; lower       as written; cap; lower
=========  ===========================  =============================

Counts (fractions, grades, days), codes and times have one form. A form that does not apply to the kind renders the
canonical form. A slot without a value, or an id the table does not hold, renders as the marked gap ``[[? id]]``:
the physician sees it and the fact check finds it (``GAP_PATTERN``); it is never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, time
from typing import cast

from rtletter.mappers.case import format_gy
from rtletter.mappers.slots.table import ROLES, Slot, SlotKind, SlotTable
from rtletter.mappers.slots.words import COURSE_END, MODALITY_DE, MONTHS, SIDE_DE, capitalise, drug_name
from rtletter.mappers.toxicity import TOXICITY_DE

FORMS: dict[SlotKind, tuple[str, ...]] = {
    "dose": ("", "num"),
    "date": ("", "dmy", "dmy1", "dm", "my", "month", "long", "mdy", "iso"),
    "text": ("", "cap", "lower"),
    "drug": ("", "cap", "lower"),
    "fractions": ("",),
    "count": ("",),
    "code": ("",),
    "time": ("",),
}

_ROLE_ALT = "|".join(sorted(ROLES, key=len, reverse=True))
# A slot as the model writes it: a known role with an optional index, or anything shaped like role.index (so that an
# invented role is caught as unknown rather than left as text). "[sic]" or "[1]" are not slots.
SLOT_PATTERN = re.compile(
    rf"\[(?P<id>(?:{_ROLE_ALT})(?:\.[a-z0-9]+)?|[a-z][a-z0-9_]*\.[a-z0-9]+)(?::(?P<form>[a-z0-9]+))?\]"
)
GAP_PATTERN = re.compile(r"\[\[\? (?P<id>[^\]\s]+)\]\]")
# What fill replaces: a slot, or what is left of one, which is no value and no text a letter can keep, so it becomes a
# gap too: a slot that lost its opening bracket ("Verlauf untermodality.1]", "ause_reason.1]": a known role, or a
# word with "_" and an index), or one cut off at the end of a draft ("... [dose_to"). A gap mark stays as it is.
_FILLED = re.compile(
    SLOT_PATTERN.pattern
    + rf"|(?<!\[)(?<!\? )(?P<orphan>(?:{_ROLE_ALT})(?:\.[a-z0-9]+)?|[a-z]*_[a-z_]*\.(?:\d+|p\d+|b))"
    + r"(?::[a-z0-9]+)?\](?!\])"
    + r"|\[(?P<cut>[a-z][a-z0-9_.:]*)\s*$"
)


def gap(slot_id: str) -> str:
    """The visible mark for a value the case does not have: ``[[? dose_fx.1]]``."""
    return f"[[? {slot_id}]]"


def slot_ref(slot_id: str, form: str = "") -> str:
    """The text a model or a delexicalised letter writes for a slot: ``[fx.1]``, ``[date_start:dm]``."""
    return f"[{slot_id}:{form}]" if form else f"[{slot_id}]"


def _number(value: float, lang: str) -> str:
    text = str(format_gy(value))
    return text.replace(".", ",") if lang == "de" else text


def _date(value: date, lang: str, form: str) -> str:
    months = MONTHS["de" if lang == "de" else "en"]
    month = months[value.month - 1]
    dmy = f"{value.day:02d}.{value.month:02d}.{value.year:04d}"
    if form == "dmy" or (form == "" and lang == "de"):
        return dmy
    if form == "dmy1":
        return f"{value.day}.{value.month}.{value.year:04d}"
    if form == "dm":
        return f"{value.day:02d}.{value.month:02d}." if lang == "de" else f"{value.day} {month}"
    if form == "my":
        return f"{value.month:02d}/{value.year:04d}"
    if form == "month":
        return f"{month} {value.year:04d}"
    if form == "mdy" and lang != "de":
        return f"{month} {value.day}, {value.year:04d}"
    if form == "iso":
        return value.isoformat()
    if lang == "de":  # "long", or "mdy" which German letters do not use
        return f"{value.day}. {month} {value.year:04d}"
    return f"{value.day} {month} {value.year:04d}"


def _text(value: str, form: str) -> str:
    if form == "cap":
        return str(capitalise(value))
    if form == "lower":
        return value.lower()
    return value


def render_value(slot: Slot, lang: str, form: str = "", *, unit_space: str = " ") -> str:
    """The slot's value as a letter in ``lang`` writes it (``form`` as in the module docstring); a slot without a
    value renders as its gap mark. ``unit_space`` goes between a dose and "Gy" (a site may want a no-break space)."""
    value = slot.value
    if value is None or value == "":
        return gap(slot.id)
    if form not in FORMS[slot.kind]:
        form = ""
    kind = slot.kind
    if kind == "dose":
        number = _number(float(cast(float, value)), lang)  # dose slots hold the case's *_gy numbers
        return number if form == "num" else f"{number}{unit_space}Gy"
    if kind == "date" and isinstance(value, date):
        return _date(value, lang, form)
    if kind == "time" and isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    if kind == "drug":
        return _text(drug_name(str(value), lang), form)
    if kind == "text":
        text = str(value)
        if slot.role in ("modality",) or (slot.role == "technique" and text in MODALITY_DE):
            text = MODALITY_DE.get(text, text) if lang == "de" else text
        elif slot.role == "course_end" and text in COURSE_END:
            text = COURSE_END[text][0 if lang == "de" else 1]
        elif lang == "de" and slot.role in ("tox", "dx_side"):  # CTCAE terms and sides in German, as letters name them
            text = (TOXICITY_DE if slot.role == "tox" else SIDE_DE).get(text, text)
        return _text(text, form)
    return str(value)


@dataclass(frozen=True)
class FilledSpan:
    """Where a slot's value landed in the filled text, and where the value came from (for the worklist)."""

    start: int
    end: int
    slot_id: str
    source: str | None
    gap: bool = False  # rendered as [[? id]]: no value in the case, or an id the case does not have


@dataclass(frozen=True)
class Filled:
    text: str
    spans: tuple[FilledSpan, ...]
    gaps: tuple[str, ...]  # ids rendered as gaps, in order of appearance
    unknown: tuple[str, ...]  # ids the table does not hold (a subset of gaps)


def fill(text: str, table: SlotTable, lang: str, *, unit_space: str = " ") -> Filled:
    """Replace every slot in ``text`` (model output) with its rendered value; what cannot be filled becomes a gap, and
    so does a slot without its opening bracket."""
    out: list[str] = []
    spans: list[FilledSpan] = []
    gaps: list[str] = []
    unknown: list[str] = []
    length, last = 0, 0
    for match in _FILLED.finditer(text):
        broken = match["orphan"] or match["cut"]  # what is left of a slot is a gap, whatever its id
        slot_id, form = match["id"] or broken, match["form"] or ""
        slot = None if broken else table.get(slot_id)
        if slot is None:
            value, source = gap(slot_id), None
            if not broken:
                unknown.append(slot_id)
        else:
            value, source = render_value(slot, lang, form, unit_space=unit_space), slot.source
        missing = slot is None or slot.missing
        if missing:
            gaps.append(slot_id)
        before = text[last : match.start()]
        if slot is not None and slot.system:
            before = _true_label(before, slot.system)
        out.extend((before, value))
        start = length + len(before)
        spans.append(FilledSpan(start, start + len(value), slot_id, source, missing))
        length = start + len(value)
        last = match.end()
    out.append(text[last:])
    return Filled("".join(out), tuple(spans), tuple(gaps), tuple(unknown))


# The code system a site's letter names before a diagnosis code: "(ICD-10-GM: [dx_code.1])", ", ICD-10 [dx_code.1]".
_CODE_LABEL = re.compile(r"\bICD-10(?:-GM|-CM)?(?=:?[ \t]*$)")


def _true_label(before: str, system: str) -> str:
    """``before`` with the code system named right before a code made true: the site's letters say "ICD-10-GM", and
    a case from elsewhere may carry an ICD-10-CM or a SNOMED CT code ("ICD-10-GM: 254837009" for XRTS-04's breast
    cancer). "ICD-10" alone is true of any ICD-10 variant."""
    match = _CODE_LABEL.search(before)
    if match is None or match[0] == system or (match[0] == "ICD-10" and system.startswith("ICD-10")):
        return before
    return before[: match.start()] + system + before[match.end() :]


def allowed_ids(table: SlotTable) -> frozenset[str]:
    """The ids a draft of this case may use: those with a value (for a logits processor or HTTP validation)."""
    return frozenset(slot.id for slot in table if not slot.missing)


def unknown_ids(text: str, known: Container[str]) -> list[str]:
    """Slot ids in ``text`` that ``known`` (a case's table, or the ids a prompt lists) does not hold, each once, in
    order of appearance."""
    return list(dict.fromkeys(m["id"] for m in SLOT_PATTERN.finditer(text) if m["id"] not in known))
