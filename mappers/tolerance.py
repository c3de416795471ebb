"""Claims a letter makes about a course's tolerance as a whole, and the worst CTCAE grade that belies each.

The site's letters (and the template) choose their tolerance sentence by the worst grade; a model picks it, and a
small one picks "gut vertragen" for a grade 3 course. The fact check reports such a claim as contradicted
(``rtletter.model.evaluate.context``); the local backend's decoder does not write it
(``rtletter.model.backends.slot_constraint``). One table for both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# label -> (what a letter writes, whether a course with this worst grade belies it)
CLAIMS: dict[str, tuple[re.Pattern[str], Callable[[int], bool]]] = {
    "well tolerated": (
        re.compile(
            r"\b(?:sehr\s+)?gut(?:e|er)?\s+(?:vertragen|toleriert|verträglich|Verträglichkeit)|komplikationslos|"
            r"\b(?:very\s+)?well\s+tolerated|\btolerated\s+(?:very\s+)?well",
            re.IGNORECASE,
        ),
        lambda worst: worst >= 3,
    ),
    "no relevant side effects": (
        re.compile(
            r"\b(?:relevanten?\s+)?Akutnebenwirkungen\s+traten\s+nicht\s+auf|keine\s+(?:relevanten\s+)?"
            r"(?:akuten\s+)?Nebenwirkungen|Nebenwirkungen\s+über\s+CTCAE\s+Grad\s+1\s+wurden\s+nicht|"
            r"\bno\s+(?:relevant\s+)?(?:acute\s+)?side\s+effects",
            re.IGNORECASE,
        ),
        lambda worst: worst >= 2,
    ),
    "higher-grade side effects": (
        re.compile(
            r"höhergradige\w*\s+Nebenwirkungen|Nebenwirkungen\s+Grad\s+[34]|higher-grade\s+side\s+effects|"
            r"\bgrade\s+[34]\s+(?:side\s+effects|acute\s+toxicity)",
            re.IGNORECASE,
        ),
        lambda worst: worst < 3,
    ),
}

# label -> the words that open the claim, for a decoder that must not start it: stopped only at its last word, a
# small model finishes it in other words ("gut" + "tolerablen").
OPENINGS: dict[str, re.Pattern[str]] = {
    "well tolerated": re.compile(
        r"\b(?:wurden?|war|ist)\s+(?:insgesamt\s+)?(?:sehr\s+)?gut(?:e|er)?$|\bkomplikations$|"
        r"\b(?:was|were)\s+(?:overall\s+)?(?:very\s+)?well$",
        re.IGNORECASE,
    ),
    "no relevant side effects": re.compile(r"\bkeine\s+(?:relevanten\s+)?(?:akuten\s+)?Neben$", re.IGNORECASE),
    "higher-grade side effects": re.compile(r"\bhöher$|\bhigher-grade$", re.IGNORECASE),
}

_NEGATED = re.compile(r"\b(?:nicht|keine?|ohne|not|no|without)\s+$", re.IGNORECASE)


def belied_claims(worst: int) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(label, pattern) of each claim a course whose worst CTCAE grade is ``worst`` belies."""
    return tuple((label, pattern) for label, (pattern, belied) in CLAIMS.items() if belied(worst))


def claims_in(text: str, claims: tuple[tuple[str, re.Pattern[str]], ...], after: int = 0) -> Iterator[tuple[str, str]]:
    """(label, words) of each of ``claims`` that ``text`` makes, ending after ``after``; a negated one ("keine
    höhergradigen Nebenwirkungen") is no claim."""
    for label, pattern in claims:
        for match in pattern.finditer(text):
            if match.end() > after and not _NEGATED.search(text, max(0, match.start() - 12), match.start()):
                yield label, match.group(0)


def starts_claim(text: str, new: int, claims: tuple[tuple[str, re.Pattern[str]], ...]) -> bool:
    """Whether ``text``, whose part from ``new`` on was just written, opens or completes one of ``claims`` (not
    negated: "keine höher..." opens no claim)."""
    for label, _ in claims:
        match = OPENINGS[label].search(text, max(0, new - 40))
        if match and not _NEGATED.search(text, max(0, match.start() - 12), match.start()):
            return True
    return any(claims_in(text, claims, after=new))
