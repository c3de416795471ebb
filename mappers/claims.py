"""Claims a letter makes in its own words that a case fact belies: on the course's tolerance as a whole (belied by
the worst CTCAE grade) and on its intent (belied by the recorded intent).

The site's letters (and the template) choose their tolerance sentence by the worst grade and write the intent the
case records; a model picks both, and a small one writes "gut vertragen" of a grade 3 course and "in kurativer
Intention" of a palliative one. The fact check reports such a claim as contradicted
(``rtletter.model.evaluate.context``); the local backend's decoder does not write it
(``rtletter.model.backends.slot_constraint``). One table for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rtletter.mappers.case import Intent


@dataclass(frozen=True)
class Claim:
    """A claim: what a letter writes (``said``), its first words at the end of a text (``opening``: a decoder stopped
    only at the last word finishes the claim in other words, "gut" + "tolerablen"), and whether a case fact (the worst
    grade, the intent) belies it."""

    label: str
    said: re.Pattern[str]
    opening: re.Pattern[str]
    belied: Callable[[Any], bool]


TOLERANCE_CLAIMS = (
    Claim(
        "well tolerated",
        re.compile(
            r"\b(?:sehr\s+)?gut(?:e|er)?\s+(?:vertragen|toleriert|verträglich|Verträglichkeit)|komplikationslos|"
            r"\b(?:very\s+)?well\s+tolerated|\btolerated\s+(?:very\s+)?well",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:wurden?|war|ist)\s+(?:insgesamt\s+)?(?:sehr\s+)?gut(?:e|er)?$|\bkomplikations$|"
            r"\b(?:was|were)\s+(?:overall\s+)?(?:very\s+)?well$",
            re.IGNORECASE,
        ),
        lambda worst: worst >= 3,
    ),
    Claim(
        "no relevant side effects",
        re.compile(
            r"\b(?:relevanten?\s+)?Akutnebenwirkungen\s+traten\s+nicht\s+auf|keine\s+(?:relevanten\s+)?"
            r"(?:akuten\s+)?Nebenwirkungen|Nebenwirkungen\s+über\s+CTCAE\s+Grad\s+1\s+wurden\s+nicht|"
            r"\bno\s+(?:relevant\s+)?(?:acute\s+)?side\s+effects",
            re.IGNORECASE,
        ),
        re.compile(r"\bkeine\s+(?:relevanten\s+)?(?:akuten\s+)?Neben$", re.IGNORECASE),
        lambda worst: worst >= 2,
    ),
    Claim(
        "higher-grade side effects",
        re.compile(
            r"höhergradige\w*\s+Nebenwirkungen|Nebenwirkungen\s+Grad\s+[34]|higher-grade\s+side\s+effects|"
            r"\bgrade\s+[34]\s+(?:side\s+effects|acute\s+toxicity)",
            re.IGNORECASE,
        ),
        re.compile(r"\bhöher$|\bhigher-grade$", re.IGNORECASE),
        lambda worst: worst < 3,
    ),
)

CURATIVE = frozenset({Intent.curative, Intent.adjuvant, Intent.neoadjuvant, Intent.definitive})
NOT_CURATIVE = frozenset({Intent.palliative, Intent.supportive})
_INTENT_CUE = r"(?:\bin\s+|intention:\s*|\bintent:\s*|\()"  # "in adjuvanter", "Therapieintention: ", "("


def _intent_claim(stated: Intent, words: tuple[str, ...], belied: frozenset[Intent], anywhere: bool) -> Claim:
    """A letter stating the intent ``stated``. "kurativ" and "palliativ" are one anywhere; "adjuvant", "neoadjuvant"
    and "definitiv" only where they name the intent ("in adjuvanter Intention", "Therapieintention: definitiv"), not
    in "Z. n. adjuvanter Chemotherapie". The opening is the word's first four letters on (a decoder meets
    " neoadjuvan" + "ter")."""
    cue = "" if anywhere else _INTENT_CUE
    alternatives = "|".join(rf"\b{w}\w*" for w in words)
    said = rf"{cue}(?:{alternatives})" + ("" if anywhere else "|" + "|".join(rf"\b{w}\w*\s+intent" for w in words))
    prefixes = "|".join(re.escape(w[:k]) for w in words for k in range(len(w), 3, -1))
    opening = rf"{cue}\b(?:{prefixes})$"
    return Claim(stated.value, re.compile(said, re.IGNORECASE), re.compile(opening, re.IGNORECASE),
                 lambda intent: intent in belied)  # fmt: skip


INTENT_CLAIMS = (
    _intent_claim(Intent.curative, ("kurativ", "curative"), NOT_CURATIVE, anywhere=True),
    _intent_claim(Intent.palliative, ("palliativ", "palliative"), CURATIVE, anywhere=True),
    _intent_claim(Intent.adjuvant, ("adjuvant",), NOT_CURATIVE | {Intent.neoadjuvant, Intent.definitive}, False),
    _intent_claim(Intent.neoadjuvant, ("neoadjuvant",), NOT_CURATIVE | {Intent.adjuvant, Intent.definitive}, False),
    _intent_claim(
        Intent.definitive, ("definitiv", "definitive"), NOT_CURATIVE | {Intent.adjuvant, Intent.neoadjuvant}, False
    ),  # fmt: skip
)

_NEGATED = re.compile(r"\b(?:nicht|keine?|ohne|not|no|without)\s+$", re.IGNORECASE)


# A negation later in the same clause: "Eine kurative Option besteht nicht", "curative treatment is no longer
# possible". Only these predicates, and no "und"/"and" on the way: "in kurativer Intention und war nicht unterbrochen"
# still claims the intent.
_NEGATED_AFTER = re.compile(
    r"(?:(?!\b(?:und|and)\b)[^.;:,\n]){0,30}?\b(?:"
    r"(?:besteh(?:t|en)|bestand(?:en)?|ist|sind|war(?:en)?|erschein(?:t|en)|is|are|was|were)\s+(?:\w+\s+)?"
    r"(?:nicht|not|no\s+longer)\b|nicht\s+(?:mehr\s+)?(?:möglich|gegeben|indiziert)|not\s+(?:possible|feasible))",
    re.IGNORECASE,
)


def _negated(text: str, start: int, end: int | None = None) -> bool:
    """A negation right before ``start`` ("keine höhergradigen Nebenwirkungen" is no claim) or, given the claim's
    ``end``, later in its clause."""
    if _NEGATED.search(text, max(0, start - 12), start) is not None:
        return True
    return end is not None and _NEGATED_AFTER.match(text, end) is not None


def belied_claims(worst: int | None, intent: Intent | None = None) -> tuple[Claim, ...]:
    """The claims a course belies whose worst CTCAE grade is ``worst`` and whose intent is ``intent`` (None: not
    known, nothing belied; ``Intent.unknown`` belies nothing either)."""
    tolerance = tuple(c for c in TOLERANCE_CLAIMS if c.belied(worst)) if worst is not None else ()
    return tolerance + tuple(c for c in INTENT_CLAIMS if c.belied(intent))


def claims_in(text: str, claims: tuple[Claim, ...], after: int = 0) -> Iterator[tuple[Claim, str]]:
    """(claim, words) of each of ``claims`` that ``text`` makes, not negated, ending after ``after``: the first
    words of each claim, once."""
    for claim in claims:
        for match in claim.said.finditer(text):
            if match.end() > after and not _negated(text, match.start(), match.end()):
                yield claim, match.group(0)
                break


def starts_claim(text: str, new: int, claims: tuple[Claim, ...]) -> bool:
    """Whether ``text``, whose part from ``new`` on was just written, opens or completes one of ``claims``."""
    for claim in claims:
        match = claim.opening.search(text, max(0, new - 40))
        if match and not _negated(text, match.start()):
            return True
    return any(claims_in(text, claims, after=new))
