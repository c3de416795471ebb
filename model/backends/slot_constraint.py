"""Constrained decoding for fact slots: a draft writes only the slot ids its prompt lists.

After a ``[`` a token is allowed only when the text since the ``[`` stays a prefix of an allowed slot (``[id]`` or
``[id:form]`` with a form of its kind, ``rtletter.mappers.slots.render``); a closed slot must be exactly one of them.
Every ``[`` opens a slot: the site's letters have no other brackets, and the ones a small model writes when it has no
slot to offer (``[Nachsorgetermine``, ``[NOTIZ`` from the fact block) are prompt layout or noise.
Token texts are decoded once per tokenizer; the open tail is read from the last few generated tokens, so the cost
is a few milliseconds per step, and only while a bracket is open or a token holding ``[`` is a candidate.

Coverage: the section that names a target volume first names every target volume of the case before it ends, and
names none twice on the way; a target is a volume name (a course volume and its phase's copy share one). All 220 of
the demo's letters keep both. Until then no blank line and no end of turn can be written, and where the draft would
most like to end the section it opens an unnamed volume's slot instead, on a line of its own, and that slot names a
volume: a small model that learned mostly one-volume courses otherwise writes the first of three volumes and moves on
(XRTS-03), or, kept in the section, writes its last line again.

A volume's values: a line that names a target volume states its fraction count, dose per fraction and total dose
(those the case has; one fraction's total is its single dose, "1 × 8 Gy") before it ends or names another volume. In
the demo's 220 letters 325 of 327 volume slots are followed so (the two others by an equal value's slot). Until then
no line break, no end of turn and no other volume can be written, digits of the draft's own neither, and a slot that
opens is one of the missing values; where the draft would end the line right after the name, the line goes on as the
letters' volume lines start (": [fx.k] × [dose_fx.k]"). Forced to name a volume, the stand-in otherwise often wrote its
name alone on the line ("HR-CTV") and went on: the volume named, its doses omitted. ``VALUES_WITHIN`` tokens after a
name the rule is off for the rest of the draft: a draft that has not written them by then is off the letter's course,
and one that strews names without values would otherwise be kept from ending at every one.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any

from rtletter.mappers.case import Intent
from rtletter.mappers.claims import belied_claims, starts_claim
from rtletter.mappers.slots.cues import (
    PLAN_OF,
    VOLUME_VALUES,
    excluded_roles,
    planned_before,
    slot_due,
    span_end,
    times_allowed,
    volume_due,
    writes_undated_diagnosis,
)
from rtletter.mappers.slots.render import FORMS, SLOT_PATTERN
from rtletter.mappers.slots.table import ROLES
from rtletter.model.components.chat_template import stop_token_ids

_LOOSE = re.compile(r"[_\]]")  # what only a slot id writes
_ID_CHARS = re.compile(r"^[a-z0-9_.:\]]")
_DIGIT = re.compile(r"^\s*\d")
_TOX = re.compile(r"\[tox\.([a-z0-9]+)(?::[a-z0-9]+)?\]")
_TIMES = re.compile(r"^\s*[×x](?![A-Za-z])")  # " ×", "x": the sign between a fraction count and a dose
_BLANK_LINE = re.compile(r"\n[ \t]*\n")  # a section break
_LINE_START = re.compile(r"^[ \t]*\n")  # a token that starts a new line: a blank one after a "\n"
_ENDS_LINE = re.compile(r"\n[ \t]*$")
TAIL_TOKENS = 32  # a slot with its form is far shorter than this many tokens
# A slot id may be written this often in one draft. The demo's 183 training letters write none more than twice (its
# dose or date in the course line and again in a phase line); a small model that loops writes one slot dozens of times
# ("[applicator] bis [applicator] am [applicator] ...") until the token cap.
MAX_SLOT_USES = 3
VALUE_ROLES = ("fx", "dose_fx", "dose_total")  # what a line naming a volume states of it
VALUES_WITHIN = 96  # tokens after a volume's name; the demo's letters need about 30 for its three values
CLAIM_TRIES = 16  # best candidates tried in turn where the next token would complete a belied claim


def slot_strings(ids: frozenset[str]) -> frozenset[str]:
    """Every way a draft may write the allowed ids: ``[id]`` and ``[id:form]``."""
    out: set[str] = set()
    for slot_id in ids:
        role = slot_id.partition(".")[0]
        out.add(f"[{slot_id}]")
        if role in ROLES:
            out.update(f"[{slot_id}:{form}]" for form in FORMS[ROLES[role][0]] if form)
    return frozenset(out)


def _values_of(index: str, ids: frozenset[str], shown: dict[str, str]) -> frozenset[str]:
    """The value slots a line naming volume ``index`` states: those of ``VALUE_ROLES`` the case has, but the total of
    a single fraction, which is its single dose ("1 × 8 Gy")."""
    owed = {f"{role}.{index}" for role in VALUE_ROLES} & ids
    if shown.get(f"fx.{index}") == "1":
        owed.discard(f"dose_total.{index}")
    return frozenset(owed)


def _delivered(ids: frozenset[str], shown: dict[str, str]) -> frozenset[str]:
    """The delivered value slots ("fx", "dose_total") that "geplant" may not precede: those whose plan the case holds
    apart ("[fx.p1]" beside "[fx_planned.p1]"), and any other of the same role and value, which the fact check cannot
    tell from them ("[fx.2]", the phase's volume, also 5 fractions of 28 planned)."""
    apart = {
        i for i in ids if (role := i.partition(".")[0]) in PLAN_OF and f"{PLAN_OF[role]}.{i.partition('.')[2]}" in ids
    }
    values = {(i.partition(".")[0], shown.get(i)) for i in apart}
    return frozenset(apart | {i for i in ids if (i.partition(".")[0], shown.get(i)) in values and shown.get(i)})


def _worst_grade(ids: frozenset[str], shown: dict[str, str]) -> int | None:
    """The worst CTCAE grade of the prompt's toxicities (0: none recorded); None where one has no grade or the
    prompt shows no values: then no tolerance claim is known to be belied, as in the fact check."""
    toxicities = {i.partition(".")[2] for i in ids if i.startswith("tox.")}
    grades = {i.partition(".")[2]: shown.get(i, "") for i in ids if i.startswith("tox_grade.")}
    if toxicities - grades.keys() or not all(g.isdigit() for g in grades.values()):
        return None
    return max((int(g) for g in grades.values()), default=0)


def _only(scores: Any, row: int, tokens: list[int]) -> None:
    """Leave ``tokens`` the row's only candidates (their scores as they are)."""
    import torch

    mask = torch.full_like(scores[row], float("-inf"))
    mask[tokens] = 0.0
    scores[row] = scores[row] + mask


def _prefixes(strings: frozenset[str]) -> frozenset[str]:
    return frozenset(s[:n] for s in strings for n in range(1, len(s) + 1))


@lru_cache(maxsize=4)
def _pieces(tokenizer: Any) -> tuple[list[str], list[int], list[int], list[int], list[int], list[int], list[int],
                                     list[int], list[int]]:  # fmt: skip
    """(text of each token id, ids holding "[", ids that may continue a slot id, ids that start with a digit, ids with
    "_" or "]" outside a bracket they open, ids that start with a "×", ids holding a blank line, ids starting a line,
    ids holding a line break)."""
    size = len(tokenizer)
    pieces = [tokenizer.decode([i]) for i in range(size)]
    bracket = [i for i, p in enumerate(pieces) if "[" in p]
    continuing = [i for i, p in enumerate(pieces) if _ID_CHARS.match(p)]
    digits = [i for i, p in enumerate(pieces) if _DIGIT.match(p)]
    special = set(tokenizer.all_special_ids)  # "<|eot_id|>" has "_" too, and must stay
    loose = [i for i, p in enumerate(pieces) if _LOOSE.search(p.partition("[")[0]) and i not in special]
    times = [i for i, p in enumerate(pieces) if _TIMES.match(p)]
    blank = [i for i, p in enumerate(pieces) if _BLANK_LINE.search(p)]
    line_start = [i for i, p in enumerate(pieces) if _LINE_START.match(p)]
    newline = [i for i, p in enumerate(pieces) if "\n" in p]
    return pieces, bracket, continuing, digits, loose, times, blank, line_start, newline


def _continues(tail: str, piece: str, strings: frozenset[str], prefixes: frozenset[str]) -> bool:
    """``piece`` after an open slot ``tail``: still a prefix of an allowed slot, or closing it as one (set lookups:
    this runs for most of the vocabulary at every step inside a slot)."""
    text = tail + piece
    end = text.find("]")
    if end < 0:
        return text in prefixes
    return text[: end + 1] in strings and ("[" not in text[end:] or _fits(text[end + 1 :], strings, prefixes))


def _fits(text: str, strings: frozenset[str], prefixes: frozenset[str]) -> bool:
    """Every bracket in ``text`` is an allowed slot, or (the last one, still open) a prefix of one."""
    for start in (m.start() for m in re.finditer(r"\[", text)):
        end = text.find("]", start)
        segment = text[start : end + 1] if end >= 0 else text[start:]
        if end >= 0 and segment not in strings:
            return False
        if end < 0 and segment not in prefixes:
            return False
    return True


class SlotLogitsProcessor:
    """A ``transformers`` logits processor: per batch row, the allowed slot ids of that row's prompt (None: free).

    The words just written narrow them further (``rtletter.mappers.slots.excluded_roles``): after "vom" no end date,
    after "bis" no start date and no dose per fraction, after "28 ×" no total, after "geplant" no delivered value whose
    plan the case holds apart (the clause read with its values filled in, as the check reads it). These are the cues by
    which the fact check finds a value in the wrong role; a draft cannot write a slot against them. In a case with
    graded toxicities, "CTCAE Grad" is followed by a grade slot, never by a number of the draft's own ("Grad 3 Monate")
    or another slot, and by the grade of the toxicity the line names last; in a case with a performance status, "ECOG"
    likewise, and "Termin" by an appointment. Where the case has no slot of the role the words call for, no slot opens
    there ("Termin [applicator]" in a case without appointments). The values of a target volume on one line are that
    volume's (``volume_due``: no "[fx.2] × [dose_fx.1]"); a "×" follows a fraction count, never a dose slot, and after a
    dose word ("ED", "GD", "×") only a dose or a date slot opens.
    A span closes in its own scope: "vom [date_start.p1] bis [date_end.p1]", never the course's end there.
    Outside a slot no token writes "_" or "]": a slot id that lost its "[" cannot start, nor can the rest of an id
    after a slot closed early ("kurativ.1]"). No slot id is written more than ``MAX_SLOT_USES`` times. Once a draft
    names a target volume, it names all of them before a blank line or the end of its turn, and no named one again
    until then (the module docstring's coverage). A tolerance claim the prompt's worst toxicity grade belies, or an
    intent the prompt's belies (``rtletter.mappers.claims``: "gut vertragen" of a grade 3 course, "kurativ" of a
    palliative one), is not written: the next best token is taken; nor is "ED" on a diagnosis line whose date of
    diagnosis the case lacks. After "ED" a date slot is the diagnosis's; on a volume's line (the Einzeldosis) no date
    slot opens."""

    def __init__(
        self,
        tokenizer: Any,
        allowed: list[frozenset[str] | None],
        prompt_width: int,
        values: list[dict[str, str]] | None = None,
        intents: list[Intent | None] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        (self.pieces, self.bracket, self.continuing, self.digits, self.loose, self.times, self.blank,
         self.line_start, self.newline) = _pieces(tokenizer)  # fmt: skip
        self.stops = stop_token_ids(tokenizer)
        self.newline_or_stop = self.newline + self.stops  # what ends a line; and as a set, for lookups
        self.line_ends = frozenset(self.newline_or_stop)
        self.ids = {p: i for i, p in reversed(list(enumerate(self.pieces)))}  # a token's text -> its (first) id
        self.allowed = allowed
        self.roles = [frozenset(i.partition(".")[0] for i in ids or ()) for ids in allowed]
        shown = values or [{} for _ in allowed]  # per row: slot id -> its value as the prompt shows it
        self.shown = shown
        # Per row: the claims the prompt's worst toxicity grade and intent belie ("gut vertragen" with grade 3).
        self.belied = [
            belied_claims(_worst_grade(ids or frozenset(), row_values), intent)
            for ids, row_values, intent in zip(allowed, shown, intents or [None for _ in allowed], strict=True)
        ]
        # Per row: the delivered values whose plan the case holds apart: after "geplant" they would state the
        # delivered value as the plan.
        self.delivered = [
            _delivered(ids or frozenset(), row_values) for ids, row_values in zip(allowed, shown, strict=True)
        ]
        # Per row: volume slot id -> the target it names (its name in the prompt; without names each id is its own).
        self.targets = [
            {i: names.get(i, i) for i in ids or () if i.startswith("volume.")}
            for ids, names in zip(allowed, shown, strict=True)
        ]
        # Per row: volume slot id -> the value slots a line naming it states.
        self.owed = [
            {v: _values_of(v.partition(".")[2], ids or frozenset(), row_values) for v in targets}
            for ids, targets, row_values in zip(allowed, self.targets, shown, strict=True)
        ]
        self._due: list[frozenset[str]] = [frozenset() for _ in allowed]  # the open volume's values not yet written
        self._due_from = [0 for _ in allowed]  # generated tokens when that volume was named
        self._due_at = [-1 for _ in allowed]  # where in the text that volume's slot ends
        self._queued: list[list[int]] = [[] for _ in allowed]  # tokens _go_on writes next
        self._gave_up = [False for _ in allowed]  # a volume's values were not written in time: the rule is off
        self._named = [frozenset[str]() for _ in allowed]  # the targets the draft has named
        self._leaving = [False for _ in allowed]  # the draft wanted to end the section at the end of its last line
        self._opened = [False for _ in allowed]  # the open slot was forced to name a volume: it stays one
        self.width = prompt_width
        self._cache: dict[tuple[Any, ...], tuple[frozenset[str], frozenset[str]]] = {}
        self._spent: list[frozenset[str]] = [frozenset() for _ in allowed]  # ids written MAX_SLOT_USES times
        self._counted = [0 for _ in allowed]  # generated tokens already looked at for "]"

    def _count_uses(self, row: int, generated: list[int]) -> None:
        """Recount the row's slot uses when a token since the last call closed a bracket (rare: once per slot)."""
        new = generated[self._counted[row] :]
        self._counted[row] = len(generated)
        if any("]" in self.pieces[token] for token in new):
            counts = Counter(m["id"] for m in SLOT_PATTERN.finditer(self.tokenizer.decode(generated)))
            self._spent[row] = frozenset(i for i, n in counts.items() if n >= MAX_SLOT_USES)
            targets = self.targets[row]
            self._named[row] = frozenset(targets[i] for i in counts if i in targets)
            self._due_values(row, self.tokenizer.decode(generated), len(generated))

    def _due_values(self, row: int, text: str, written: int) -> None:
        """The values the line's last named volume still owes (``_due``), read from the whole text at a "]"."""
        start = text.rfind("\n") + 1
        slots = list(SLOT_PATTERN.finditer(text, start))
        named = [n for n, m in enumerate(slots) if m["id"] in self.owed[row]]
        if not named:
            self._due[row] = frozenset()
            return
        volume = slots[named[-1]]
        if volume.end() != self._due_at[row]:  # a volume named just now: its values are owed from here
            self._due_at[row], self._due_from[row] = volume.end(), written
        self._due[row] = self.owed[row][volume["id"]] - {m["id"] for m in slots[named[-1] + 1 :]}

    def _owing(self, row: int, written: int) -> frozenset[str]:
        """The open volume's values still owed. ``VALUES_WITHIN`` tokens after its name the rule is off for the rest
        of the draft: one that strews volume names without values would otherwise be kept from ending at every one."""
        if self._due[row] and written - self._due_from[row] > VALUES_WITHIN:
            self._gave_up[row] = True
        return frozenset() if self._gave_up[row] else self._due[row]

    def _uncovered(self, row: int) -> bool:
        """The draft has named some target volumes and not yet all."""
        return bool(self._named[row]) and self._named[row] != frozenset(self.targets[row].values())

    def _named_ids(self, row: int) -> frozenset[str]:
        """The volume ids of the targets already named, while others are not: none of them opens again."""
        if not self._uncovered(row):
            return frozenset()
        return frozenset(i for i, name in self.targets[row].items() if name in self._named[row])

    def _constraint(
        self,
        row: int,
        excluded: frozenset[str],
        due: frozenset[str] = frozenset(),
        grade: str | None = None,
        volume: str | None = None,
        end: str | None = None,
        planned: bool = False,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(slot strings, their prefixes) of the row's ids without the ``excluded`` roles (all ids if none is left);
        ``due``: the only roles the words before allow (none: any); ``grade``: the one toxicity grade id they allow;
        ``volume``: the index a volume's dose or fraction slot must have (a new ``[volume.k]`` may still open);
        ``end``: the one end slot a span may close with, where the case has it (``span_end``); ``planned``: the words
        call the value planned, so no delivered value whose plan the case holds apart. Ids the
        draft has written ``MAX_SLOT_USES`` times are never allowed again, nor a named volume while others are not."""
        spent = self._spent[row] | self._named_ids(row)
        key = (row, excluded, due, grade, volume, end, planned, spent)
        if key not in self._cache:
            ids = self.allowed[row] or frozenset()
            kept = frozenset(i for i in ids if i.partition(".")[0] not in excluded) or ids
            if due:
                kept = frozenset(i for i in kept if i.partition(".")[0] in due) or kept
            if grade is not None:
                kept = frozenset(i for i in kept if not i.startswith("tox_grade.") or i == grade)
            if volume is not None:
                kept = frozenset(
                    i for i in kept if i.partition(".")[0] not in VOLUME_VALUES or i.partition(".")[2] == volume
                )
            if end is not None and end in kept:
                kept = frozenset(i for i in kept if not i.partition(".")[0].endswith("_end") or i == end)
            if planned:
                kept -= self.delivered[row]
            kept -= spent
            strings = slot_strings(kept)
            self._cache[key] = (strings, _prefixes(strings))
        return self._cache[key]

    def _grade(self, row: int, before: str) -> str | None:
        """The grade id of the toxicity the line names last ("[tox.2] CTCAE Grad " -> ``tox_grade.2``), if the case
        has it: the grade rendered there is then that toxicity's own."""
        named = _TOX.findall(before[before.rfind("\n") + 1 :])
        grade = f"tox_grade.{named[-1]}" if named else None
        return grade if grade in (self.allowed[row] or ()) else None

    def _planned(self, row: int, before: str) -> bool:
        """The clause before calls the next value planned ("(geplant: [fx_planned.2] × "), read as the letter will
        read, with the values filled in: the fact check reads "geplant" within a clause's last 30 characters."""
        shown = self.shown[row]
        text = SLOT_PATTERN.sub(lambda m: shown.get(m["id"], m[0]), before)
        return planned_before(text, len(text))

    def _split(self, generated: list[int]) -> tuple[str, str]:
        """(the generated text before the open slot, the open slot from its "[") ; without an open slot (all, "")."""
        text = self.tokenizer.decode(generated[-TAIL_TOKENS:])
        start = text.rfind("[")
        if start >= 0 and "]" not in text[start:]:
            return text[:start], text[start:]
        return text, ""

    def _cover(self, row: int, before: str, scores: Any) -> bool:
        """The section goes on until it names every target volume: no blank line, no end of turn. Where the draft
        would most like to end it, only an unnamed volume's slot may open, on a line of its own: at the end of a
        line the line ends first (True: decided)."""
        line_start = _ENDS_LINE.search(before) is not None
        ends = self.stops + self.blank + (self.line_start if line_start else [])
        best = int(scores[row].argmax())
        leaving = best in ends or (line_start and self._leaving[row])
        self._leaving[row] = False
        scores[row, ends] = float("-inf")
        if leaving and not line_start:
            # "abgeschlossen.\n\n" would close the section: the line ends ("." and a line break), and the next one
            # opens the slot. Left to itself after a plain "\n" the model writes a next line, mostly the last again.
            rest = "" if best in self.stops else self.pieces[best].split("\n")[0]
            token = self.ids.get(rest + "\n", self.ids.get(rest)) if rest else self.ids.get("\n")
            if token is None:
                return False
            self._leaving[row] = self.pieces[token].endswith("\n")
            _only(scores, row, [token])
            return True
        if not (leaving and line_start):
            return False
        strings, prefixes = self._constraint(row, frozenset(), frozenset({"volume"}))
        opening = [i for i in self.bracket if _fits(self.pieces[i], strings, prefixes)]
        if not opening:
            return False
        _only(scores, row, opening)
        self._opened[row] = True
        return True

    def _go_on(self, row: int, before: str, scores: Any) -> bool:
        """Where the draft would end the line right after a volume's name, the line goes on as the letters' volume
        lines start, ": [fx.k] × [dose_fx.k]" (True: decided), and the draft writes the rest ("bis [dose_total.k]");
        left to pick among what else it might write there, the stand-in wrote "HR-CTV (7 Gy) 28 Gy - 4"."""
        if not self._queued[row]:
            if int(scores[row].argmax()) not in self.line_ends:
                return False
            slots = list(SLOT_PATTERN.finditer(before, before.rfind("\n") + 1))
            if not slots or slots[-1]["id"] not in self.owed[row] or before[slots[-1].end() :]:
                return False
            index = slots[-1]["id"].partition(".")[2]
            owed = self.owed[row][slots[-1]["id"]]
            text = ": "
            if {f"fx.{index}", f"dose_fx.{index}"} <= owed:
                text += f"[fx.{index}] × [dose_fx.{index}]"
            self._queued[row] = self.tokenizer.encode(text, add_special_tokens=False)
        _only(scores, row, [self._queued[row].pop(0)])
        return True

    def _unclaim(self, row: int, before: str, scores: Any) -> None:
        """Where the best next token would open or complete a claim the case belies, or an "ED" whose date of
        diagnosis it lacks, the next best is taken, and so on (``CLAIM_TRIES`` at most): the draft does not write
        "gut vertragen" of a grade 3 course, nor "ED" before a date it does not have. Greedy decoding takes the best;
        a sampler may still draw a banned one from further down."""
        belied, ids = self.belied[row], self.allowed[row] or frozenset()
        for _ in range(CLAIM_TRIES):
            best = int(scores[row].argmax())
            piece = self.pieces[best]
            claims = bool(belied) and starts_claim(before + piece, len(before), belied)
            if not claims and not writes_undated_diagnosis(before, piece, ids):
                return
            scores[row, best] = float("-inf")

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for row, ids in enumerate(self.allowed):
            if ids is None:
                continue
            generated = input_ids[row, self.width :].tolist()
            self._count_uses(row, generated)
            if self._queued[row]:  # the rest of a volume line's start (_go_on)
                _only(scores, row, [self._queued[row].pop(0)])
                continue
            before, tail = self._split(generated)
            owing = self._owing(row, len(generated))
            cued = slot_due(before)
            due = cued & self.roles[row]  # a case without such a slot keeps its literal numbers
            grade = self._grade(row, before) if "tox_grade" in due else None
            excluded = excluded_roles(before)
            if owing:  # the named volume's values come first: no other volume, and a slot opened is one of them
                excluded |= {"volume"}
                due = due or frozenset(i.partition(".")[0] for i in owing)
            planned = bool(self.delivered[row]) and self._planned(row, before)
            strings, prefixes = self._constraint(row, excluded, due, grade, volume_due(before), span_end(before),
                                                 planned)  # fmt: skip
            if tail and self._opened[row]:  # a slot that coverage opened names a volume
                strings, prefixes = self._constraint(row, frozenset(), frozenset({"volume"}))
            self._opened[row] = self._opened[row] and bool(tail)
            if tail:  # inside a slot: only tokens that keep it a valid prefix
                keep = [i for i in self.continuing if _continues(tail, self.pieces[i], strings, prefixes)]
                if keep:  # always, as long as the vocabulary holds single characters (byte-level BPE does)
                    _only(scores, row, keep)
                continue
            # "_" and "]" are in slot ids, never in a letter's words: no "toleriert_time.1]" without its "[", and no
            # "kurativ.1]:" after a slot closed as an id the case has ("[intent]" where the draft meant another)
            scores[row, self.loose] = float("-inf")
            if owing and self._go_on(row, before, scores):
                continue
            if owing:  # the line goes on until it states the volume's values
                scores[row, self.newline_or_stop] = float("-inf")
            elif self._uncovered(row) and self._cover(row, before, scores):
                continue
            if not times_allowed(before):
                scores[row, self.times] = float("-inf")
            if due:
                scores[row, self.digits] = float("-inf")
            if cued and not due:  # "Termin [applicator]": the words call for a role the case lacks
                scores[row, self.bracket] = float("-inf")
                continue
            # No bracket open: only tokens holding "[" can open a slot.
            banned = [i for i in self.bracket if not _fits(self.pieces[i], strings, prefixes)]
            if banned:
                scores[row, banned] = float("-inf")
            self._unclaim(row, before, scores)
        return scores
