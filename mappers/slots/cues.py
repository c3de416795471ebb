"""The words that fix a value's role: the start or end of a span, a total dose or a dose per fraction, a planned value.

One place for three readers: the aligner (which of several slots with one value a letter means: ``date_cue``,
``planned_before`` and the looser ``dose_hint``), the fact check (a value whose words call for a role its slot does not
have: ``date_cue``, ``dose_cue``) and constrained decoding (which slot ids may follow the words a draft has just
written: ``excluded_roles``, ``slot_due``, ``volume_due``, ``span_end``, ``times_allowed``; only the words before a
slot are known there).
"""

from __future__ import annotations

import re
from typing import Literal

from rtletter.mappers.slots.render import SLOT_PATTERN
from rtletter.mappers.slots.table import ROLES

_START_BEFORE = re.compile(
    r"(?:\bvom|\bvon|\bab|\bseit|\bfrom|\bsince|\bbetween|\bBeginn(?:\s+am)?|\bstarted\s+on)\s*$"
)
_START_AFTER = re.compile(r"\s*(?:bis\b|-|–|to\b|and\b|until\b)")
_END_BEFORE = re.compile(
    r"(?:\bbis(?:\s+zum)?|\bto|-|–|\band|\buntil|(?:stopped|ended|completed|finished)(?:\s+early|\s+as\s+planned)?\s+on)\s*$"
)
_END_SENTENCE = re.compile(r"[^\n]*?\b(?:beendet|abgebrochen|abgeschlossen)\b")  # "am 14.03. ... beendet."
# Strict dose cues: a clean letter's "a dose of 50 Gy" is neither.
_TOTAL_BEFORE = re.compile(
    r"(?:Gesamtdosis(?:\s+von)?|\bGD|total dose(?:\s+of)?|\bbis(?:\s+zu[mr]?)?(?:\s+einer\s+Gesamtdosis\s+von)?)\s*$"
)
_TOTAL_AFTER = re.compile(r"\s+in\s+\d{1,2}\s+(?:Fraktionen|fractions)\b")  # "50,4 Gy in 28 Fraktionen"
_PER_FX_BEFORE = re.compile(r"(?:Einzeldosis(?:\s+von)?|\bED|[×]|\d\s*x|\bà|\bje|dose per fraction(?:\s+of)?)\s*$")
_PER_FX_AFTER = re.compile(r"\s*(?:pro|je|per)\s+(?:Fraktion|fraction)\b")

# Loose dose cues, for choosing between slots that share a value (the aligner): "of", "to", "ad" count too.
_LOOSE_TOTAL_BEFORE = re.compile(
    r"(?:\bbis(?:\s+zu[mr]?)?|\bto|\bGD|Gesamtdosis(?:\s+von)?|total dose(?:\s+of)?|\bad)\s*$"
)
_LOOSE_PER_FX_BEFORE = re.compile(r"(?:[x×]|\bà|\bED|Einzeldosis(?:\s+von)?|\bof|\bje)\s*$")

_GRADE_BEFORE = re.compile(r"\b(?:Grad|[Gg]rade)\s*$")  # "CTCAE Grad ", not the slot id "[dx_grade"
_DOSE_BEFORE = re.compile(r"(?:Gesamtdosis\s+von|\bGD|total dose of|\bà|dose per fraction of)\s*$")
# A performance status: the scale's name, and what a number after it must not be followed by ("ECOG 1", not "1 Gy").
PS_WORD = re.compile(r"ECOG|Karnofsky|KPS")
NOT_PS_AFTER = re.compile(r"\s*(?:Gy|Fraktion|fraction|mg|[x×]\s*\d|/)")
_PS_BEFORE = re.compile(r"\b(?:ECOG|Karnofsky(?:-Index)?|KPS)\W{0,3}$")  # "(ECOG ", "ECOG- "
_APPT_KIND_BEFORE = re.compile(r"\bTermin\s*$")  # "Termin [appt_kind.1] am ...", or "Den Termin zur ..." without one
_APPT_BEFORE = re.compile(r"\bbooked for\s*$")  # "Follow-up visit booked for [appt.1]"

# What comes after it is the course's end ("... wurde am [date_end] wie geplant abgeschlossen": all 201 such dates in
# the demo's letters); the fact check reads it so from the words after the date (``_END_SENTENCE``), which a decoder
# has not written yet.
_ENDED_ON = re.compile(r"\b(?:Bestrahlung|Strahlentherapie|Radiatio|Serie)\s+wurde\s+am\s*$")
_ED_BEFORE = re.compile(r"\bED:?\s*$")  # Einzeldosis before a dose, Erstdiagnose before a date
_DX_SLOT = re.compile(r"\[dx_[a-z]+\.([a-z0-9]+)")  # a diagnosis's slot: its index
_TIMES_BEFORE = re.compile(r"(?:×|\d\s*x)\s*(?:ED\s*)?$")  # "× ED" too: no letter writes it, a draft did with a date
_PLANNED_BEFORE = re.compile(r"geplant|planned|vorgesehen|intended", re.IGNORECASE)

TOTAL_ROLES = frozenset({"dose_total", "dose_planned", "prior_dose"})
PLAN_OF = {"dose_total": "dose_planned", "fx": "fx_planned"}  # a delivered value's role -> its plan's


def _line_before(text: str, start: int) -> str:
    before = text[text.rfind("\n", 0, start) + 1 : start]
    return "" if before.strip() in ("-", "–", "•") else before  # a list bullet, not "02.03. - 08.04."


def date_cue(text: str, start: int, end: int) -> Literal["start", "end"] | None:
    """Whether the words around the date at ``text[start:end]`` make it the start of a span ("vom ...", "... bis",
    "from ...") or its end ("bis ...", "to ...", "am ... beendet"); None when they say neither or both."""
    before = _line_before(text, start)
    line_end = text.find("\n", end)
    sentence = re.split(r"\.\s", text[end : len(text) if line_end < 0 else line_end], maxsplit=1)[0]
    is_start = bool(_START_BEFORE.search(before) or _START_AFTER.match(text, end))
    is_end = bool(_END_BEFORE.search(before)) or (before.endswith("am ") and bool(_END_SENTENCE.match(sentence)))
    if is_start == is_end:
        return None
    return "start" if is_start else "end"


def dose_cue(text: str, start: int, end: int) -> Literal["total", "per_fraction"] | None:
    """Whether the words around the dose at ``text[start:end]`` make it a total ("Gesamtdosis ...", "bis ...",
    "... in 28 Fraktionen") or a dose per fraction ("Einzeldosis ...", "28 × ...", "... pro Fraktion")."""
    before = _line_before(text, start)
    total = bool(_TOTAL_BEFORE.search(before) or _TOTAL_AFTER.match(text, end))
    per_fraction = bool(_PER_FX_BEFORE.search(before) or _PER_FX_AFTER.match(text, end))
    if total == per_fraction:
        return None
    return "total" if total else "per_fraction"


def dose_hint(text: str, start: int) -> Literal["total", "per_fraction"] | None:
    """The looser reading of the words before a dose, for telling apart slots that share its value ("of 1,8 Gy": per
    fraction; "to 50,4 Gy": total); total first."""
    before = _line_before(text, start)
    if _LOOSE_TOTAL_BEFORE.search(before):
        return "total"
    if _LOOSE_PER_FX_BEFORE.search(before):
        return "per_fraction"
    return None


def planned_before(text: str, start: int, width: int = 30) -> bool:
    """Whether the clause before ``text[start]`` (up to ``width`` characters of its line, after the last ";" or ")")
    calls the value planned: "geplant: 50,4 Gy", "von geplanten 28 Fraktionen"."""
    before = text[max(text.rfind("\n", 0, start) + 1, start - width) : start]
    clause = before[max(before.rfind(";"), before.rfind(")")) + 1 :]
    return _PLANNED_BEFORE.search(clause) is not None


def excluded_roles(before: str) -> frozenset[str]:
    """Roles a slot may not have right after ``before`` (the draft's text so far): after "vom", the end roles; after
    "bis", the start roles and the dose per fraction; after "Die Bestrahlung wurde am", the start roles; after
    "Gesamtdosis", the dose per fraction; after "28 ×", the totals; after any dose word ("ED", "GD", "bis", "×")
    any slot but a dose or a date, and after "×" a date too; after "ED" on a line naming a target volume no date (it
    is the Einzeldosis: "[volume.1]: ED [dose_fx.1]"), elsewhere no date but the diagnosis's (the Erstdiagnose); the
    planned dose unless "geplant" comes just before. All 220 of the demo's letters keep these. Only the words
    before the slot count: at decode time nothing follows it yet."""
    text = before + "\0"  # a stand-in for the slot
    date, dose = date_cue(text, len(before), len(text)), dose_cue(text, len(before), len(text))
    out: frozenset[str] = frozenset()
    if date is not None:
        out |= _ENDS if date == "start" else _STARTS
    if dose is not None:  # and no slot but a dose or a date ("ED" is also the date of diagnosis): no "ED [fx.1] ×"
        out |= (frozenset({"dose_fx"}) if dose == "total" else TOTAL_ROLES) | _NEITHER_DOSE_NOR_DATE
    if _ENDED_ON.search(before):  # "Die Bestrahlung wurde am [date_end] [course_end]": its end, never its start
        out |= _STARTS
    if _TIMES_BEFORE.search(before):  # "7 × [date_start]" neither, nor "7 × ED [date_start]" (XRTS-02)
        out |= _DATES
    # "PTV rectum: ED [date_start] bis 44 Gy" (SYN00700178), "Prostate: ED ..." (XRTS-02)
    if diagnosis_date_due(before):
        out |= _DATES if volume_due(before) is not None else _DATES - {"dx_date"}
    if not planned_before(before, len(before)):  # the site's letters call a planned dose so, always before it
        out |= frozenset({"dose_planned"})
    return out


def diagnosis_date_due(before: str) -> bool:
    """Whether a date right after ``before`` can only be the date of diagnosis: after "ED" (Erstdiagnose; before a
    dose it is the Einzeldosis). The fact check reads a date there so, and the decoder writes no other."""
    return _ED_BEFORE.search(before) is not None


def writes_undated_diagnosis(before: str, written: str, ids: frozenset[str]) -> bool:
    """Whether ``written`` after ``before`` completes an "ED" that calls for a date of diagnosis the case lacks: on a
    line naming no target volume (there it is the Einzeldosis), whose diagnosis (the line's last ``[dx_...k]`` slot;
    any, on a line naming none) has no ``dx_date`` among ``ids``, the slot ids of the case. Held to that date after
    "ED", such a draft derailed to the cap (2 of the demo's 21 held-out drafts); the site's letters leave "ED" out."""
    text = before + written
    if not diagnosis_date_due(text) or diagnosis_date_due(before) or volume_due(text) is not None:
        return False
    named = _DX_SLOT.findall(text[text.rfind("\n") + 1 :])
    due = {f"dx_date.{named[-1]}"} if named else {i for i in ids if i.partition(".")[0] == "dx_date"}
    return not due & ids


def slot_due(before: str) -> frozenset[str]:
    """The roles one of whose slots must come right after ``before``, never a number of the draft's own: a toxicity
    grade after "CTCAE Grad ", a performance status after "ECOG ", a dose after "Gesamtdosis von", "GD" or "à", an
    appointment after "Termin " (the site's letters write them so, always: "Termin" is followed by the appointment's
    kind in all 115 training letters with an appointment, and by "zur ersten Nachsorge" in all 12 without). Empty:
    the words call for no slot. Where the case has none of these roles, no slot may follow at all (any other would be
    in the wrong role), and a literal stays possible ("Nebenwirkungen über CTCAE Grad 1 wurden nicht beobachtet")."""
    if _GRADE_BEFORE.search(before):
        return frozenset({"tox_grade"})
    if _PS_BEFORE.search(before):
        return frozenset({"ps"})
    if _DOSE_BEFORE.search(before):
        return _DOSES
    if _APPT_KIND_BEFORE.search(before):
        return frozenset({"appt_kind"})
    if _APPT_BEFORE.search(before):
        return frozenset({"appt"})
    return frozenset()


def volume_due(before: str) -> str | None:
    """The index every value of a target volume on this line must have: that of the line's last slot of a volume
    ("[volume.2]: [fx.2] × [dose_fx.2]", "nach [fx.p2] von [fx_planned.p2]"); None before the line has one. A new
    ``[volume.k]`` starts another ("...; [volume.3]: ..."). In the demo's 220 letters no line mixes two volumes'
    values; a draft that does states "4 × 1,8 Gy bis 28 Gy" from two volumes, each value in the case."""
    index = None
    for match in SLOT_PATTERN.finditer(before[before.rfind("\n") + 1 :]):
        role, _, number = match["id"].partition(".")
        if role == "volume" or role in VOLUME_VALUES:
            index = number
    return index


_SPAN_START = re.compile(
    r"\[(?P<kind>[a-z]+)_start(?:\.(?P<scope>[a-z0-9]+))?(?::[a-z0-9]+)?\]\s*(?:bis|-|–|to|until|and)\s*$"
)


def span_end(before: str) -> str | None:
    """The end slot a span must close with after its start slot ("vom [date_start.p1] bis " -> ``date_end.p1``):
    a span is one phase's, one therapy's or the course's, never the course's start with a phase's end. In the demo's
    letters every such pair keeps its scope, but three where a phase ends on the course's last day (the same date)."""
    match = _SPAN_START.search(before)
    if match is None:
        return None
    return f"{match['kind']}_end" + (f".{match['scope']}" if match["scope"] else "")


def times_allowed(before: str) -> bool:
    """Whether a "×" may come next: not right after a slot that is not a count of fractions ("[dose_total.2] ×" puts
    a dose where the fractions belong; the demo's letters write "×" after a fraction slot or a literal number only)."""
    tail = before[-64:]
    slots = list(SLOT_PATTERN.finditer(tail))
    if not slots or tail[slots[-1].end() :].strip():
        return True
    role = slots[-1]["id"].partition(".")[0]
    return role in ROLES and ROLES[role][0] == "fractions"


VOLUME_VALUES = frozenset({"dose_total", "dose_fx", "dose_planned", "fx", "fx_planned"})  # one volume's, by its index
_STARTS = frozenset(role for role in ROLES if role.endswith("_start"))
_NEITHER_DOSE_NOR_DATE = frozenset(role for role, (kind, _) in ROLES.items() if kind not in ("dose", "date"))
_DATES = frozenset(role for role, (kind, _) in ROLES.items() if kind == "date")
_DOSES = frozenset(role for role, (kind, _) in ROLES.items() if kind == "dose")
_ENDS = frozenset(role for role in ROLES if role.endswith("_end"))
