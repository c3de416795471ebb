"""Letter + its case -> the letter with slots in place of the case's values (delexicalisation, for training data).

For each slot the aligner renders every form of its value in the letter's language (``render.FORMS``: "50,4 Gy",
"50,4" before "Gy"/"Gray", "02.03.2026", "2.3.2026", "02.03.", "03/2026", "März 2026" ...) and finds them in the
text, never inside a word or another number ("28" is not in "2028", "1,8 Gy" not in "11,8 Gy"). Bare numbers count
only in their context: fractions before "Fraktionen"/"fractions"/"× 1,8", a grade after "Grad"/"grade", a
performance status after "ECOG". Longest matches win; then each match is given to one slot:

1. a partial date ("02.03.") only to a slot of the year written next to it;
2. planned or delivered: "geplant"/"planned" around the value picks ``fx_planned``/``dose_planned``, its absence
   ``fx``/``dose_total`` (a planned value written as delivered stays literal);
3. start or end: "vom/from/seit ..." or "... bis/to" picks ``*_start``, "bis/to/- ..." picks ``*_end``;
4. dose role: "×", "à", "ED", "of" before a dose picks the dose per fraction, "bis", "GD", "total dose" the total;
5. owner: the slot whose anchor (volume name, drug, phase name, "geb.", "ED" ...) is written closest before the
   value on the same line, else closest after it; with no anchor on the line, the course-level slot;
6. what is still tied: the same role in several volumes takes the first not yet used (same value, same text); the
   start and end of a one-day span take the start; anything else stays literal and is counted.

The round trip is exact: ``fill(delexicalise(letter).text)`` gives the letter back, because every aligned span is
replaced by the form that renders to exactly that text. Values that were found but left literal, and values written
in the other language's number format ("50.4 Gy" in a German letter), are the slot coverage gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Literal

from rtletter.mappers.slots.cues import NOT_PS_AFTER, PS_WORD, TOTAL_ROLES, date_cue, dose_hint, planned_before
from rtletter.mappers.slots.render import FORMS, SLOT_PATTERN, render_value, slot_ref
from rtletter.mappers.slots.table import ROLES, Slot, SlotTable

SlotStatus = Literal["aligned", "literal", "absent"]

# Hard context for bare numbers: without it a number is not taken for the fact.
_FX_AFTER = re.compile(
    r"\s*(?:[x×]\s*\d"
    r"|(?:geplanten?\s+|planned\s+)?(?:Fraktion(?:en)?|Fx|fractions?|Sitzung(?:en)?|sessions?|Bestrahlungen)\b"
    r"|(?:von|of)\s+\d{1,2}\s+(?:geplanten?\s+|planned\s+)?(?:Fraktion|fraction))"
)
_GRADE_BEFORE = re.compile(r"(?:Grad|[Gg]rade|°)\s*$")
_DAYS_AFTER = re.compile(r"\s+(?:(?:Behandlungs|Bestrahlungs|Werk)?[Tt]age?n?|(?:treatment\s+)?days?)\b")
_CYCLES_AFTER = re.compile(r"\s*(?:Zyklen|Zyklus|cycles?|Kurse)\b")
_STAGE_BEFORE = re.compile(r"(?:UICC|AJCC|FIGO|Stadium|[Ss]tage|Ann Arbor)\s*(?:Stadium\s*)?$")
# Soft context: which of several slots with the same value is meant.
_PLANNED_AFTER = re.compile(r"\s*(?:geplanten?|planned)\b")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_DIGIT_BEFORE = re.compile(r"\d\.?\s*$")

_PLANNED = {"fx_planned", "dose_planned"}
_DELIVERED = {"fx", "dose_total"}
_NAMES = {"name_given", "name_family", "ref_given", "ref_family"}
# Roles that name the same thing: a tie between them is no ambiguity ("HDR-Brachytherapie" is modality and technique).
_INTERCHANGEABLE = {"technique", "modality"}


@dataclass(frozen=True)
class Alignment:
    """A span of the original letter that became a slot."""

    start: int
    end: int
    slot_id: str
    form: str
    text: str


@dataclass(frozen=True)
class Mention:
    """A span that states a value of the case but was left literal, and why."""

    start: int
    end: int
    text: str
    candidates: tuple[str, ...]
    reason: Literal["ambiguous", "context", "foreign format"]


@dataclass(frozen=True)
class Coverage:
    aligned: int = 0  # in a slot: its own, one of the same role and value, or a longer slot around it
    literal: int = 0  # stated in the letter, left as text
    absent: int = 0  # not found in the letter

    @property
    def share(self) -> float | None:
        """Aligned facts among the facts the letter states; None when it states none."""
        stated = self.aligned + self.literal
        return self.aligned / stated if stated else None

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(self.aligned + other.aligned, self.literal + other.literal, self.absent + other.absent)


@dataclass(frozen=True)
class Delexicalised:
    text: str
    alignments: tuple[Alignment, ...]
    literal: tuple[Mention, ...]
    status: dict[str, SlotStatus]  # every slot with a value
    clashes: tuple[str, ...] = ()  # slot-shaped text already in the letter: the round trip would change it

    def coverage(self, by: Literal["role", "kind"] = "role") -> dict[str, Coverage]:
        return coverage([self], by)


def coverage(results: Iterable[Delexicalised], by: Literal["role", "kind"] = "role") -> dict[str, Coverage]:
    """Aligned / literal / absent slots per role (or kind), summed over letters."""
    out: dict[str, Coverage] = {}
    for result in results:
        for slot_id, status in result.status.items():
            role = slot_id.partition(".")[0]
            key = role if by == "role" else ROLES[role][0]
            one = Coverage(int(status == "aligned"), int(status == "literal"), int(status == "absent"))
            out[key] = out.get(key, Coverage()) + one
    return out


# --- finding the forms ------------------------------------------------------------------------------------------------


@dataclass
class _Group:
    start: int
    end: int
    foreign: bool
    candidates: list[tuple[Slot, str]] = field(default_factory=list)


def _boundaries(slot: Slot, form: str) -> tuple[str, str]:
    kind = slot.kind
    if kind in ("dose", "fractions", "count", "date"):
        left = r"(?:(?<![\w.,/])|(?<=\dx))"  # "28x1,8Gy": the x binds two numbers
        if kind == "date" and form == "dm":
            return left, r"(?!\d)(?![\w])(?!,?\s+\d{4}(?!\d))"
        if kind == "dose" and form == "num":
            return left, r"(?=\s?(?:Gy|Gray)\b)"
        return left, r"(?:(?![\w])|(?=x\d))(?![.,/]\d)"
    if kind == "time":
        return r"(?<![\d:])", r"(?![\d:])"
    if kind == "code":
        return r"(?<![\w.-])", r"(?![\w])(?!\.\d)"
    if slot.role in _NAMES:
        return r"(?<![\w-])", r"(?![\w])(?!-\w)"
    return r"(?<![\w-])", r"(?!\w)"


@lru_cache(maxsize=4096)
def _compile(left: str, literal: str, right: str) -> re.Pattern[str]:
    return re.compile(left + re.escape(literal) + right)


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _hard_context(slot: Slot, form: str, text: str, start: int, end: int) -> bool:
    """Context a bare value needs before it counts as this fact at all."""
    role, before, after = slot.role, text[_line_start(text, start) : start], text[end : end + 60]
    if role in ("fx", "fx_planned", "prior_fx"):
        return _FX_AFTER.match(after) is not None
    if role == "tox_grade":
        return _GRADE_BEFORE.search(before) is not None
    if role == "pause_days":
        return _DAYS_AFTER.match(after) is not None
    if role == "cycles":
        return _CYCLES_AFTER.match(after) is not None
    if role == "dx_stage":
        return _STAGE_BEFORE.search(before) is not None
    if role == "ps":
        window = before[-60:]
        words = list(PS_WORD.finditer(window))
        return bool(words) and ". " not in window[words[-1].end() :] and NOT_PS_AFTER.match(after) is None
    if slot.kind == "date" and form == "month":
        return _DIGIT_BEFORE.search(before) is None  # "März 2026" inside "15. März 2026" is another date
    return True


def _forms(slot: Slot, lang: str, unit_space: str) -> list[tuple[str, str, bool]]:
    """(form, text, foreign) for every way the letter may write the slot's value; the first form wins a tie."""
    seen: dict[str, tuple[str, str, bool]] = {}
    for form in FORMS[slot.kind]:
        rendered = render_value(slot, lang, form, unit_space=unit_space)
        seen.setdefault(rendered, (form, rendered, False))
    if slot.kind == "dose":  # the other number format: found, counted, never replaced
        other = "en" if lang == "de" else "de"
        for form in FORMS["dose"]:
            rendered = render_value(slot, other, form, unit_space=unit_space)
            seen.setdefault(rendered, (form, rendered, True))
    return [item for item in seen.values() if item[1]]


def _near_ok(slot: Slot, table: SlotTable, lang: str, text: str, start: int, unit_space: str) -> bool:
    if slot.near is None:
        return True
    other = table.get(slot.near)
    if other is None or other.missing:
        return False
    line = text[_line_start(text, start) : _line_end(text, start)]
    return any(rendered in line for _form, rendered, _f in _forms(other, lang, unit_space))


def _find(text: str, table: SlotTable, lang: str, unit_space: str) -> tuple[list[_Group], list[_Group]]:
    """The spans that state a value (longest first, no overlaps), and those dropped inside a longer one."""
    groups: dict[tuple[int, int, bool], _Group] = {}
    for slot in table:
        if slot.missing:
            continue
        for form, rendered, foreign in _forms(slot, lang, unit_space):
            if slot.kind == "text" and len(rendered) < 2 and slot.role != "dx_stage":  # "I" needs its "UICC"
                continue
            left, right = _boundaries(slot, form)
            for m in _compile(left, rendered, right).finditer(text):
                if not _hard_context(slot, form, text, m.start(), m.end()):
                    continue
                if not _near_ok(slot, table, lang, text, m.start(), unit_space):
                    continue
                key = (m.start(), m.end(), foreign)
                group = groups.setdefault(key, _Group(m.start(), m.end(), foreign))
                group.candidates.append((slot, form))
    # Longest first, native before foreign; a span that overlaps a kept one is dropped.
    ordered = sorted(groups.values(), key=lambda g: (-(g.end - g.start), g.foreign, g.start))
    kept: list[_Group] = []
    dropped: list[_Group] = []
    taken: list[tuple[int, int]] = []
    for group in ordered:
        if any(group.start < e and s < group.end for s, e in taken):
            dropped.append(group)
            continue
        kept.append(group)
        taken.append((group.start, group.end))
    return sorted(kept, key=lambda g: g.start), dropped


# --- choosing the slot ------------------------------------------------------------------------------------------------

_Candidates = list[tuple[Slot, str]]


def _year_filter(group: _Group, text: str, cands: _Candidates) -> _Candidates:
    out: _Candidates = []
    for slot, form in cands:
        if slot.kind == "date" and form == "dm" and isinstance(slot.value, date):
            ahead = text[group.end : min(group.end + 40, _line_end(text, group.end))]
            year = _YEAR.search(ahead)
            if year is not None and slot.value.year not in (int(year[1]), int(year[1]) - 1):
                continue
        out.append((slot, form))
    return out


def _planned_filter(group: _Group, text: str, cands: _Candidates) -> _Candidates:
    roles = {slot.role for slot, _ in cands}
    if not roles & (_PLANNED | _DELIVERED):
        return cands
    planned = planned_before(text, group.start) or bool(_PLANNED_AFTER.match(text, group.end))
    drop = _DELIVERED if planned else _PLANNED
    return [(slot, form) for slot, form in cands if slot.role not in drop]


def _start_end_filter(group: _Group, text: str, cands: _Candidates) -> _Candidates:
    if not any(slot.kind == "date" for slot, _ in cands):
        return cands
    cue = date_cue(text, group.start, group.end)
    if cue is None:
        return cands
    drop = "_end" if cue == "start" else "_start"
    return [(slot, form) for slot, form in cands if not slot.role.endswith(drop)]


def _dose_role_filter(group: _Group, text: str, cands: _Candidates) -> _Candidates:
    roles = {slot.role for slot, _ in cands}
    if len(roles) < 2 or any(slot.kind != "dose" for slot, _ in cands):
        return cands
    hint = dose_hint(text, group.start)
    if hint is None:
        return cands
    keep = TOTAL_ROLES if hint == "total" else {"dose_fx"}
    narrowed = [(slot, form) for slot, form in cands if slot.role in keep]
    return narrowed or cands


@lru_cache(maxsize=2048)
def _anchor_pattern(anchor: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(anchor) + r"(?!\w)")


def _anchor_filter(group: _Group, text: str, cands: _Candidates) -> _Candidates:
    if len(cands) < 2:
        return cands
    line_start = _line_start(text, group.start)
    best: dict[str, int] = {}
    for slot, _ in cands:
        ends = [m.end() for a in slot.anchors for m in _anchor_pattern(a).finditer(text, line_start, group.start)]
        best[slot.id] = max(ends, default=-1)
    top = max(best.values())
    if top >= 0:
        return [(slot, form) for slot, form in cands if best[slot.id] == top]
    # No anchor before the value: the closest one after it on the line ("08.10.2025: Tumorexzision").
    line_end = _line_end(text, group.end)
    after: dict[str, int] = {}
    for slot, _ in cands:
        starts = [m.start() for a in slot.anchors for m in _anchor_pattern(a).finditer(text, group.end, line_end)]
        after[slot.id] = min(starts, default=line_end + 1)
    first = min(after.values())
    if first <= line_end:
        return [(slot, form) for slot, form in cands if after[slot.id] == first]
    unanchored = [(slot, form) for slot, form in cands if not slot.anchors]
    return unanchored or cands


_FILTERS: tuple[Callable[[_Group, str, _Candidates], _Candidates], ...] = (
    _planned_filter,
    _start_end_filter,
    _dose_role_filter,
    _anchor_filter,
)


def _tie(cands: _Candidates, used: set[str], table_order: dict[str, int]) -> tuple[Slot, str] | None:
    if len(cands) == 1:
        return cands[0]
    roles = {slot.role for slot, _ in cands}
    ordered = sorted(cands, key=lambda c: table_order[c[0].id])
    if len(roles) == 1 or roles <= _INTERCHANGEABLE:  # the same fact in several volumes/phases: take them in order
        return next((c for c in ordered if c[0].id not in used), ordered[0])
    scopes = {slot.scope for slot, _ in cands}
    values = {str(slot.value) for slot, _ in cands}
    if len(scopes) == 1 and len(values) == 1 and {r.rpartition("_")[2] for r in roles} == {"start", "end"}:
        return next(c for c in ordered if c[0].role.endswith("_start"))  # "am 14.03.2026": a one-day span
    return None


def delexicalise(text: str, table: SlotTable, lang: str, *, unit_space: str = " ") -> Delexicalised:
    """Replace the case's values in a letter with their slots; see the module docstring for the rules."""
    order = {slot.id: n for n, slot in enumerate(table)}
    used: set[str] = set()
    alignments: list[Alignment] = []
    literal: list[Mention] = []
    groups, dropped = _find(text, table, lang, unit_space)
    for group in groups:
        span = text[group.start : group.end]
        cands = _year_filter(group, text, group.candidates)
        if not cands:
            continue
        ids = tuple(dict.fromkeys(slot.id for slot, _ in cands))
        if group.foreign:
            literal.append(Mention(group.start, group.end, span, ids, "foreign format"))
            continue
        narrowed = cands
        for step in _FILTERS:
            narrowed = step(group, text, narrowed)
        if not narrowed:
            literal.append(Mention(group.start, group.end, span, ids, "context"))
            continue
        chosen = _tie(narrowed, used, order)
        if chosen is None:
            literal.append(Mention(group.start, group.end, span, ids, "ambiguous"))
            continue
        slot, form = chosen
        used.add(slot.id)
        alignments.append(Alignment(group.start, group.end, slot.id, form, span))

    out: list[str] = []
    last = 0
    for a in alignments:
        out.extend((text[last : a.start], slot_ref(a.slot_id, a.form)))
        last = a.end
    out.append(text[last:])

    # A value counts as aligned when it is in a slot: its own, one of the same role and value (the volumes of a
    # SIB with 35 fractions each), or a longer slot around it (a drug inside the therapy as written); the end of a
    # one-day course is stated with its start.
    values = {(table[a.slot_id].role, str(table[a.slot_id].value)) for a in alignments}
    nested = {
        slot.id
        for group in dropped
        for slot, _ in group.candidates
        if any(a.start <= group.start and group.end <= a.end for a in alignments)
    }
    mentioned = {slot_id for mention in literal for slot_id in mention.candidates}
    status: dict[str, SlotStatus] = {}
    for slot in table:
        if slot.missing:
            continue
        one_day = slot.role.endswith("_end") and (slot.role[:-4] + "_start", str(slot.value)) in values
        if slot.id in used or (slot.role, str(slot.value)) in values or slot.id in nested or one_day:
            status[slot.id] = "aligned"
        else:
            status[slot.id] = "literal" if slot.id in mentioned else "absent"
    clashes = tuple(m[0] for m in SLOT_PATTERN.finditer(text))
    return Delexicalised("".join(out), tuple(alignments), tuple(literal), status, clashes)
