"""Feedback figures for the dashboard: signed / rejected, how much physicians changed per section, time to signature,
per model (base + adapter version) and per week.

Edit distance is word-level Levenshtein (insertions, deletions, substitutions of whitespace-separated tokens), and its
ratio divides by the longer side, so 0 = signed unchanged, 1 = rewritten. Sections are found paragraph by paragraph
with ``rtletter.mappers.letter.find_sections`` (the first section a paragraph shows; a paragraph showing none belongs
to the section before it, ``other`` at the top), so a section moved or renamed by the physician is still compared
with its counterpart. Only figures leave this module: no text, no ids of patients.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rtletter.agent.review.store import SignedPair
from rtletter.mappers.letter import SECTIONS, find_sections

OTHER = "other"
SECTION_ORDER = (*SECTIONS, OTHER)
_PARAGRAPHS = re.compile(r"\n\s*\n")


def word_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (two rows of the table: O(len(b)) memory)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, token in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other)))
        previous = current
    return previous[-1]


def edit_ratio(draft: str, final: str) -> float:
    a, b = draft.split(), final.split()
    longest = max(len(a), len(b))
    return word_distance(a, b) / longest if longest else 0.0


def split_sections(text: str, lang: str = "de") -> dict[str, str]:
    """The letter's text per section (see the module docstring); sections absent from the text are left out."""
    parts: dict[str, list[str]] = defaultdict(list)
    current = OTHER
    for paragraph in _PARAGRAPHS.split(text.strip()):
        if not paragraph.strip():
            continue
        found = find_sections(paragraph, lang)
        current = next((name for name in SECTIONS if found[name]), current)
        parts[current].append(paragraph.strip())
    return {name: "\n\n".join(parts[name]) for name in SECTION_ORDER if parts.get(name)}


def section_ratios(draft: str, final: str, lang: str = "de") -> dict[str, float]:
    """Edit ratio per section present in the draft or the final text."""
    before, after = split_sections(draft, lang), split_sections(final, lang)
    return {
        name: edit_ratio(before.get(name, ""), after.get(name, ""))
        for name in SECTION_ORDER
        if name in before or name in after
    }


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def _p90(values: Iterable[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]


def _language(case_json: str | None) -> str:
    try:
        lang = json.loads(case_json or "{}").get("language")
    except ValueError:
        lang = None
    return lang if lang in ("de", "en") else "de"


def week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Group:
    """Figures for one model version or one week."""

    signed: int = 0
    rejected: int = 0
    unchanged: int = 0  # signed without a single word changed
    ratios: list[float] = field(default_factory=list)  # whole-letter edit ratios of the signed letters
    hours: list[float] = field(default_factory=list)  # posted -> signed

    @property
    def median_ratio(self) -> float | None:
        return _median(self.ratios)

    @property
    def median_hours(self) -> float | None:
        return _median(self.hours)

    @property
    def p90_hours(self) -> float | None:
        return _p90(self.hours)

    @property
    def rejected_share(self) -> float | None:
        total = self.signed + self.rejected
        return self.rejected / total if total else None


@dataclass
class Dashboard:
    total: Group
    by_model: dict[str, Group]
    by_week: dict[str, Group]  # ISO week of the decision, in order
    by_model_week: dict[str, dict[str, Group]]  # model -> ISO week -> figures (the plots' lines per model)
    sections: dict[str, list[float]]  # section -> edit ratios over signed letters
    via: dict[str, int]  # worklist | ehr | cli -> decisions

    def section_means(self) -> dict[str, float]:
        return {name: statistics.fmean(v) for name, v in self.sections.items() if v}


def compute(pairs: Iterable[SignedPair]) -> Dashboard:
    """The dashboard's figures from decided jobs (``ReviewStore.decided()``)."""
    total = Group()
    by_model: dict[str, Group] = defaultdict(Group)
    by_week: dict[str, Group] = defaultdict(Group)
    by_model_week: dict[str, dict[str, Group]] = defaultdict(lambda: defaultdict(Group))
    sections: dict[str, list[float]] = defaultdict(list)
    via: dict[str, int] = defaultdict(int)
    for pair in pairs:
        model, week = pair.model or "unknown", week_of(pair.decided_at)
        groups = (total, by_model[model], by_week[week], by_model_week[model][week])
        via[pair.decided_via or "unknown"] += 1
        if pair.outcome != "signed":
            for group in groups:
                group.rejected += 1
            continue
        final = pair.final_text or ""
        ratio = edit_ratio(pair.draft_text, final)
        hours = (pair.decided_at - pair.posted_at).total_seconds() / 3600 if pair.posted_at is not None else None
        for group in groups:
            group.signed += 1
            group.unchanged += ratio == 0.0
            group.ratios.append(ratio)
            if hours is not None and hours >= 0:
                group.hours.append(hours)
        lang = _language(pair.case_json)
        for name, value in section_ratios(pair.draft_text, final, lang).items():
            sections[name].append(value)
    return Dashboard(
        total=total,
        by_model=dict(sorted(by_model.items())),
        by_week=dict(sorted(by_week.items())),
        by_model_week={m: dict(sorted(w.items())) for m, w in sorted(by_model_week.items())},
        sections={name: sections[name] for name in SECTION_ORDER if name in sections},
        via=dict(via),
    )
