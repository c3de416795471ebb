"""The words that fix a value's role: the start or end of a span, a total dose or a dose per fraction.

One place for three readers: the aligner (which of several slots with one value a letter means), the fact check (a
value whose words call for a role its slot does not have) and constrained decoding (which slot ids may follow the
words a draft has just written; only the words before a slot are known there).
"""

from __future__ import annotations

import re
from typing import Literal

from rtletter.mappers.slots.table import ROLES

START_BEFORE = re.compile(r"(?:\bvom|\bvon|\bab|\bseit|\bfrom|\bsince|\bbetween|\bBeginn(?:\s+am)?|\bstarted\s+on)\s*$")
START_AFTER = re.compile(r"\s*(?:bis\b|-|–|to\b|and\b|until\b)")
END_BEFORE = re.compile(
    r"(?:\bbis(?:\s+zum)?|\bto|-|–|\band|\buntil|(?:stopped|ended|completed|finished)(?:\s+early)?\s+on)\s*$"
)
_END_SENTENCE = re.compile(r"[^\n]*?\b(?:beendet|abgebrochen|abgeschlossen)\b")  # "am 14.03. ... beendet."
# Strict dose cues: a clean letter's "a dose of 50 Gy" is neither.
TOTAL_BEFORE = re.compile(
    r"(?:Gesamtdosis(?:\s+von)?|\bGD|total dose(?:\s+of)?|\bbis(?:\s+zu[mr]?)?(?:\s+einer\s+Gesamtdosis\s+von)?)\s*$"
)
TOTAL_AFTER = re.compile(r"\s+in\s+\d{1,2}\s+(?:Fraktionen|fractions)\b")  # "50,4 Gy in 28 Fraktionen"
PER_FX_BEFORE = re.compile(r"(?:Einzeldosis(?:\s+von)?|\bED|[×]|\d\s*x|\bà|\bje|dose per fraction(?:\s+of)?)\s*$")
PER_FX_AFTER = re.compile(r"\s*(?:pro|je|per)\s+(?:Fraktion|fraction)\b")

TOTAL_ROLES = frozenset({"dose_total", "dose_planned", "prior_dose"})

Cue = Literal["start", "end", "total", "per_fraction"]


def _line_before(text: str, start: int) -> str:
    before = text[text.rfind("\n", 0, start) + 1 : start]
    return "" if before.strip() in ("-", "–", "•") else before  # a list bullet, not "02.03. - 08.04."


def date_cue(text: str, start: int, end: int) -> Literal["start", "end"] | None:
    """Whether the words around the date at ``text[start:end]`` make it the start of a span ("vom ...", "... bis",
    "from ...") or its end ("bis ...", "to ...", "am ... beendet"); None when they say neither or both."""
    before = _line_before(text, start)
    line_end = text.find("\n", end)
    sentence = re.split(r"\.\s", text[end : len(text) if line_end < 0 else line_end], maxsplit=1)[0]
    is_start = bool(START_BEFORE.search(before) or START_AFTER.match(text, end))
    is_end = bool(END_BEFORE.search(before)) or (before.endswith("am ") and bool(_END_SENTENCE.match(sentence)))
    if is_start == is_end:
        return None
    return "start" if is_start else "end"


def dose_cue(text: str, start: int, end: int) -> Literal["total", "per_fraction"] | None:
    """Whether the words around the dose at ``text[start:end]`` make it a total ("Gesamtdosis ...", "bis ...",
    "... in 28 Fraktionen") or a dose per fraction ("Einzeldosis ...", "28 × ...", "... pro Fraktion")."""
    before = _line_before(text, start)
    total = bool(TOTAL_BEFORE.search(before) or TOTAL_AFTER.match(text, end))
    per_fraction = bool(PER_FX_BEFORE.search(before) or PER_FX_AFTER.match(text, end))
    if total == per_fraction:
        return None
    return "total" if total else "per_fraction"


def excluded_roles(before: str) -> frozenset[str]:
    """Roles a slot may not have right after ``before`` (the draft's text so far): after "vom", the end roles; after
    "bis", the start roles and the dose per fraction; after "Gesamtdosis", the dose per fraction; after "28 ×", the
    totals. Only the words before the slot count: at decode time nothing follows it yet."""
    text = before + "\0"  # a stand-in for the slot
    date, dose = date_cue(text, len(before), len(text)), dose_cue(text, len(before), len(text))
    out: frozenset[str] = frozenset()
    if date is not None:
        out |= _ENDS if date == "start" else _STARTS
    if dose is not None:
        out |= frozenset({"dose_fx"}) if dose == "total" else TOTAL_ROLES
    return out


_STARTS = frozenset(role for role in ROLES if role.endswith("_start"))
_ENDS = frozenset(role for role in ROLES if role.endswith("_end"))
