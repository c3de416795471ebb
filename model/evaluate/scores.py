"""Drafts on disk and their scores: the glue between generation, the metric components and the report.

A drafts file is JSONL, one line per (case, system)::

    {"id": <case_id>, "system": "finetuned" | "base" | ..., "text": <the letter>, "model": ..., "prompt_tokens": ...,
     "completion_tokens": ..., "seconds": ..., "body": <what the model wrote> | null, "truncated": true | false | null}

``text`` is the letter as it would be posted: with the letter template (``rtletter.mappers.scaffold``) the site's head
and tail around ``body``, the model's output. ``body`` null: the model wrote the whole letter (or an older file), and
the body is cut from the text with ``split_letter``. ``truncated`` says whether the draft ran into max_new_tokens
instead of ending with the end-of-turn token (null: not recorded).

Each draft is scored twice: the whole letter against the whole reference letter, and the body against the reference's
body (``split_letter``), so that the template's words cannot flatter the model. Each has its shuffled-reference floor.

Errors (``EvaluationError``) give file and line numbers, never case ids or text: they may end up in logs.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rtletter.mappers.case import Case
from rtletter.mappers.letter import split_letter
from rtletter.model.dataset import Record, case_from_record, read_jsonl
from rtletter.model.errors import DatasetError, ModelError
from rtletter.model.evaluate.facts import FactReport, check_draft
from rtletter.model.evaluate.rouge import ROUGE_TYPES, make_scorer, score_pair
from rtletter.model.evaluate.sections import BODY_SECTIONS, STUDY_SECTIONS, SectionReport, check_sections
from rtletter.model.evaluate.stats import Interval, PairedResult, bootstrap_interval, paired_test

FREE_TEXT = "free-text"  # a fine-tuned model trained without fact slots, beside one trained with them
# The fine-tuned model's drafts after redrafting, as the agent drafts them (``rtletter.model.redraft``).
REDRAFTED = "redrafted"
# The report shows these first, in this order.
SYSTEM_ORDER: tuple[str, ...] = ("base", "finetuned", REDRAFTED, FREE_TEXT, "template")
# Paired comparisons (system a, system b), tested on the cases both drafted where both systems are in the evaluation.
# Further pairs go here by system name.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("finetuned", "base"),
    ("finetuned", "template"),
    ("finetuned", FREE_TEXT),
    (REDRAFTED, "finetuned"),
)


class EvaluationError(ModelError):
    """Drafts, data or review sheets that do not fit together (unknown case, missing draft, bad score)."""


@dataclass(frozen=True)
class Draft:
    id: str
    system: str
    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    body: str | None = None  # what the model wrote, when the template wrote the rest; None: cut from text
    truncated: bool | None = None  # ran into max_new_tokens, no end-of-turn; None: not recorded


@dataclass(frozen=True)
class DraftScore:
    id: str
    system: str
    rouge: dict[str, float]  # the whole letter against the whole reference
    sections: SectionReport
    facts: FactReport
    body_rouge: dict[str, float] = field(default_factory=dict)  # the body against the reference's body
    body_sections: SectionReport = field(default_factory=lambda: SectionReport({}))  # found in the body alone
    truncated: bool | None = None

    @property
    def body_completeness(self) -> float:
        return self.body_sections.share(BODY_SECTIONS)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "system": self.system,
            "rouge": self.rouge,
            "body_rouge": self.body_rouge,
            "body_completeness": self.body_completeness,
            "truncated": self.truncated,
            "sections": self.sections.present,
            "completeness": self.sections.completeness,
            "missing_sections": self.sections.missing,
            "facts_checked": self.facts.checked,
            "unsupported": self.facts.unsupported,
            "contradicted": self.facts.contradicted,
            "findings": [asdict(f) for f in self.facts.findings],
            "omitted": [f.model_dump() for f in self.facts.omitted],
        }


@dataclass(frozen=True)
class SystemSummary:
    system: str
    n: int
    rouge: dict[str, float]  # mean F1
    completeness: float  # mean share of study sections
    section_rate: dict[str, float]  # share of drafts with each section
    unsupported: int
    contradicted: int
    omitted: int
    findings_per_draft: float
    consistent_drafts: int
    complete_drafts: int  # drafts with every study section
    tokens_per_second: float | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)  # per METRICS name: mean per draft, 95% bootstrap
    body_rouge: dict[str, float] = field(default_factory=dict)  # mean F1 of the bodies
    body_completeness: float = 0.0  # mean share of BODY_SECTIONS in the bodies
    ended: int | None = None  # drafts that ended with the end-of-turn token by themselves (None: not recorded)
    ended_of: int = 0  # drafts whose ending was recorded

    @property
    def ended_share(self) -> float | None:
        return self.ended / self.ended_of if self.ended is not None and self.ended_of else None


@dataclass(frozen=True)
class Comparison:
    """System a against system b on the same cases: a paired test per METRICS name (a minus b)."""

    a: str
    b: str
    metrics: dict[str, PairedResult]


@dataclass
class Evaluation:
    """Everything the report shows."""

    records: list[Record]
    drafts: list[Draft]
    scores: list[DraftScore]
    summaries: list[SystemSummary]
    shuffled_reference_rouge: dict[str, float] | None = None  # reference vs another case's reference: the floor
    shuffled_body_rouge: dict[str, float] | None = None  # the same for the references' bodies
    physician: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def systems(self) -> list[str]:
        return [s.system for s in self.summaries]

    def score(self, case_id: str, system: str) -> DraftScore | None:
        return next((s for s in self.scores if s.id == case_id and s.system == system), None)

    def draft(self, case_id: str, system: str) -> Draft | None:
        return next((d for d in self.drafts if d.id == case_id and d.system == system), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "systems": [asdict(s) for s in self.summaries],
            "shuffled_reference_rouge": self.shuffled_reference_rouge,
            "shuffled_body_rouge": self.shuffled_body_rouge,
            "physician": self.physician,
            "comparisons": [asdict(c) for c in self.comparisons],
            "drafts": [s.to_json() for s in self.scores],
            "notes": self.notes,
        }


# --- reading and writing drafts -------------------------------------------------------------------------------------


def write_drafts(path: Path, drafts: Iterable[Draft]) -> None:
    lines = [json.dumps(asdict(d), ensure_ascii=False, separators=(",", ":")) for d in drafts]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_drafts(path: Path) -> list[Draft]:
    """Drafts of a JSONL file. Raises EvaluationError naming the file and line of a bad record."""
    try:
        rows = read_jsonl(path)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    drafts, seen = [], set()
    for number, row in enumerate(rows, start=1):
        if not all(isinstance(row.get(key), str) for key in ("id", "system", "text")):
            raise EvaluationError(f"{path}: record {number} needs string fields id, system and text")
        key = (row["id"], row["system"])
        if key in seen:
            raise EvaluationError(f"{path}: record {number} repeats a case of system {row['system']!r}")
        seen.add(key)
        known: dict[str, Any] = {
            k: row[k] for k in ("model", "prompt_tokens", "completion_tokens", "seconds") if k in row
        }
        if isinstance(row.get("body"), str):
            known["body"] = row["body"]
        if isinstance(row.get("truncated"), bool):
            known["truncated"] = row["truncated"]
        drafts.append(Draft(id=row["id"], system=row["system"], text=row["text"], **known))
    return drafts


def read_data(path: Path, limit: int | None = None) -> list[Record]:
    """Dataset records (``test.jsonl``), the first ``limit`` of them. Raises EvaluationError for bad records."""
    try:
        records = read_jsonl(path)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    for number, record in enumerate(records, start=1):
        completion = record.get("completion")
        if not (
            isinstance(record.get("id"), str)
            and isinstance(record.get("case"), dict)
            and isinstance(record.get("prompt"), list)
            and isinstance(completion, list)
            and completion
            and isinstance(completion[-1], dict)
            and isinstance(completion[-1].get("content"), str)
        ):
            raise EvaluationError(f"{path}: record {number} is not a dataset record (id, case, prompt, completion)")
    if not records:
        raise EvaluationError(f"{path}: no records")
    return records[:limit] if limit else records


def reference_of(record: Record) -> str:
    """The whole reference letter: ``letter`` of a record built for the scaffold, else the completion."""
    letter = record.get("letter")
    return letter if isinstance(letter, str) else str(record["completion"][-1]["content"])


def _language(record: Record) -> str:
    lang = (record.get("case") or {}).get("language")
    return lang if lang in ("de", "en") else "de"


def reference_body(record: Record) -> str:
    """The reference letter's clinical body (what the model learnt to write under the scaffold)."""
    return split_letter(reference_of(record), _language(record)).body.strip()


def draft_body(draft: Draft, lang: str) -> str:
    """What the model wrote: the recorded body, else the body cut from the draft's text."""
    return draft.body.strip() if draft.body is not None else split_letter(draft.text, lang).body.strip()


def match_drafts(records: Sequence[Record], drafts: Sequence[Draft], *, drafts_path: Path | str = "drafts") -> None:
    """Check every draft belongs to a data record and every system has a draft for every record.

    Drafts of cases outside ``records`` are an error unless ``records`` was cut with a limit (the caller filters).
    """
    ids = {r["id"] for r in records}
    for number, draft in enumerate(drafts, start=1):
        if draft.id not in ids:
            raise EvaluationError(f"{drafts_path}: record {number} is for a case that is not in the data")
    by_system: dict[str, set[str]] = {}
    for draft in drafts:
        by_system.setdefault(draft.system, set()).add(draft.id)
    if not by_system:
        raise EvaluationError(f"{drafts_path}: no drafts")
    for system, have in by_system.items():
        missing = [n for n, r in enumerate(records, start=1) if r["id"] not in have]
        if missing:
            raise EvaluationError(
                f"{drafts_path}: system {system!r} has no draft for {len(missing)} of {len(records)} cases "
                f"(first: data record {missing[0]})"
            )


# --- scoring --------------------------------------------------------------------------------------------------------


def order_systems(systems: Iterable[str]) -> list[str]:
    names = set(systems)
    return [s for s in SYSTEM_ORDER if s in names] + sorted(names - set(SYSTEM_ORDER))


def score_drafts(records: Sequence[Record], drafts: Sequence[Draft]) -> list[DraftScore]:
    """ROUGE against the reference letter and of the body against its body, sections and facts for each draft, in
    data order then system order."""
    scorer = make_scorer()
    by_key = {(d.id, d.system): d for d in drafts}
    scores = []
    for record in records:
        case: Case = case_from_record(record)
        reference, reference_text = reference_of(record), reference_body(record)
        for system in order_systems(d.system for d in drafts):
            draft = by_key.get((record["id"], system))
            if draft is None:
                continue
            body = draft_body(draft, case.language)
            scores.append(
                DraftScore(
                    id=record["id"],
                    system=system,
                    rouge=score_pair(reference, draft.text, scorer=scorer),
                    sections=check_sections(draft.text, case.language),
                    facts=check_draft(case, draft.text),
                    body_rouge=score_pair(reference_text, body, scorer=scorer),
                    body_sections=check_sections(body, case.language),
                    truncated=draft.truncated,
                )
            )
    return scores


# Per-draft values behind each summary row; a row that shows a total (a count) is n times the mean.
def _rouge(name: str) -> Callable[[DraftScore], float]:
    return lambda s: s.rouge[name]


def _body_rouge(name: str) -> Callable[[DraftScore], float]:
    return lambda s: s.body_rouge[name]


METRICS: dict[str, Callable[[DraftScore], float]] = {
    **{name: _rouge(name) for name in ROUGE_TYPES},
    **{f"body_{name}": _body_rouge(name) for name in ROUGE_TYPES},
    "completeness": lambda s: s.sections.completeness,
    "body_completeness": lambda s: s.body_completeness,
    "complete_drafts": lambda s: float(s.sections.complete),
    "unsupported": lambda s: float(s.facts.unsupported),
    "contradicted": lambda s: float(s.facts.contradicted),
    "findings_per_draft": lambda s: float(len(s.facts.findings)),
    "consistent_drafts": lambda s: float(s.facts.consistent),
    "omitted": lambda s: float(len(s.facts.omitted)),
}


def summarise(scores: Sequence[DraftScore], drafts: Sequence[Draft] = ()) -> list[SystemSummary]:
    summaries = []
    for system in order_systems(s.system for s in scores):
        mine = [s for s in scores if s.system == system]
        timed = [d for d in drafts if d.system == system and d.seconds > 0]
        speed = sum(d.completion_tokens for d in timed) / sum(d.seconds for d in timed) if timed else None
        findings = sum(len(s.facts.findings) for s in mine)
        recorded = [s.truncated for s in mine if s.truncated is not None]
        summaries.append(
            SystemSummary(
                system=system,
                n=len(mine),
                rouge={name: statistics.fmean(s.rouge[name] for s in mine) for name in ROUGE_TYPES},
                completeness=statistics.fmean(s.sections.completeness for s in mine),
                section_rate={
                    name: statistics.fmean(float(s.sections.present.get(name, False)) for s in mine)
                    for name in (*STUDY_SECTIONS, "tolerance", "closing")
                },
                unsupported=sum(s.facts.unsupported for s in mine),
                contradicted=sum(s.facts.contradicted for s in mine),
                omitted=sum(len(s.facts.omitted) for s in mine),
                findings_per_draft=findings / len(mine),
                consistent_drafts=sum(s.facts.consistent for s in mine),
                complete_drafts=sum(s.sections.complete for s in mine),
                tokens_per_second=speed,
                intervals={name: bootstrap_interval([value(s) for s in mine]) for name, value in METRICS.items()},
                body_rouge={name: statistics.fmean(s.body_rouge[name] for s in mine) for name in ROUGE_TYPES},
                body_completeness=statistics.fmean(s.body_completeness for s in mine),
                ended=sum(not t for t in recorded) if recorded else None,
                ended_of=len(recorded),
            )
        )
    return summaries


def compare(scores: Sequence[DraftScore], a: str, b: str) -> Comparison:
    """Paired test of system ``a`` against ``b`` per metric, over the cases both systems drafted.

    Raises:
        EvaluationError: no case has drafts of both systems.
    """
    of_a = {s.id: s for s in scores if s.system == a}
    of_b = {s.id: s for s in scores if s.system == b}
    common = [case_id for case_id in of_a if case_id in of_b]
    if not common:
        raise EvaluationError(f"no case has drafts of both {a!r} and {b!r}")
    return Comparison(
        a=a,
        b=b,
        metrics={
            name: paired_test(a, b, [value(of_a[c]) for c in common], [value(of_b[c]) for c in common])
            for name, value in METRICS.items()
        },
    )


def comparisons(scores: Sequence[DraftScore], pairs: Sequence[tuple[str, str]] = COMPARISONS) -> list[Comparison]:
    """The paired comparisons of ``pairs`` whose two systems are both scored."""
    present = {s.system for s in scores}
    return [compare(scores, a, b) for a, b in pairs if a in present and b in present]


def shuffled_reference_rouge(records: Sequence[Record], *, body: bool = False) -> dict[str, float] | None:
    """Mean ROUGE of each reference letter (``body``: its body) against the next case's: what shared wording alone
    scores.

    A draft that beats this floor only slightly has learned the template, not the case."""
    if len(records) < 2:
        return None
    scorer = make_scorer()
    letters = [reference_body(r) if body else reference_of(r) for r in records]
    pairs = [score_pair(letters[i], letters[(i + 1) % len(letters)], scorer=scorer) for i in range(len(letters))]
    return {name: statistics.fmean(p[name] for p in pairs) for name in ROUGE_TYPES}


def evaluate_drafts(
    records: Sequence[Record], drafts: Sequence[Draft], *, physician: dict[str, Any] | None = None
) -> Evaluation:
    """Score drafts that match ``records`` (see ``match_drafts``) into an Evaluation for the report."""
    match_drafts(records, drafts)
    scores = score_drafts(records, drafts)
    return Evaluation(
        records=list(records),
        drafts=list(drafts),
        scores=scores,
        summaries=summarise(scores, drafts),
        shuffled_reference_rouge=shuffled_reference_rouge(records),
        shuffled_body_rouge=shuffled_reference_rouge(records, body=True),
        physician=physician,
        comparisons=comparisons(scores),
    )


def fine_tuned_shortfalls(evaluation: Evaluation, *, margin: float = 0.0) -> list[str]:
    """What keeps the fine-tuned model from beating its base: one line per ROUGE type and for section completeness of
    the whole letter, and, for drafts written under the letter template (every draft records its body), one per
    ROUGE type of the body (against the references' bodies) and for body completeness, where fine-tuned is not ahead
    by more than ``margin``. Empty when it wins everywhere (the demo's check). The body lines matter because both
    systems' letters share the template's head and tail, which the whole-letter figures include.

    Raises:
        EvaluationError: the evaluation lacks the base or the fine-tuned system.
    """
    by_name = {s.system: s for s in evaluation.summaries}
    if "base" not in by_name or "finetuned" not in by_name:
        raise EvaluationError("comparing needs drafts of both the base and the fine-tuned model")
    base, tuned = by_name["base"], by_name["finetuned"]
    pairs = [(name, tuned.rouge[name], base.rouge[name]) for name in ROUGE_TYPES]
    pairs.append(("section completeness", tuned.completeness, base.completeness))
    compared = [d for d in evaluation.drafts if d.system in ("base", "finetuned")]
    if compared and all(d.body is not None for d in compared):
        pairs += [(f"body {name}", tuned.body_rouge[name], base.body_rouge[name]) for name in ROUGE_TYPES]
        pairs.append(("body completeness", tuned.body_completeness, base.body_completeness))
    return [
        f"{name}: fine-tuned {ours:.3f} vs base {theirs:.3f}" for name, ours, theirs in pairs if ours - theirs <= margin
    ]


@dataclass(frozen=True)
class DraftGoals:
    """What a draft must reach before its letters are worth a physician's signature (issue #12): enough held-out
    cases, the model-written body above the shuffled-reference floor of the bodies on ROUGE-1 and ROUGE-L, body
    completeness, no contradicted fact, drafts that end by themselves."""

    min_cases: int = 20
    min_body_completeness: float = 0.9
    max_contradicted: int = 0
    min_ended_share: float = 0.95


def draft_goal_shortfalls(
    evaluation: Evaluation, goals: DraftGoals = DraftGoals(), system: str = "finetuned"
) -> list[str]:
    """One line per goal ``system`` misses (empty: all met).

    Raises:
        EvaluationError: the evaluation has no drafts of ``system``.
    """
    by_name = {s.system: s for s in evaluation.summaries}
    if system not in by_name:
        raise EvaluationError(f"no drafts of the {system} system")
    summary = by_name[system]
    misses = []
    if summary.n < goals.min_cases:
        misses.append(f"held-out cases: {summary.n} < {goals.min_cases}")
    floor = evaluation.shuffled_body_rouge or {}
    for name, label in (("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L")):
        ours = summary.body_rouge.get(name)
        if ours is None or name not in floor:
            misses.append(f"body {label}: not measured (drafts without a body, or no floor)")
        elif ours <= floor[name]:
            misses.append(f"body {label}: {ours:.3f} <= shuffled bodies {floor[name]:.3f}")
    if summary.body_completeness < goals.min_body_completeness:
        misses.append(f"body completeness: {summary.body_completeness:.2f} < {goals.min_body_completeness:.2f}")
    if summary.contradicted > goals.max_contradicted:
        misses.append(f"contradicted statements: {summary.contradicted} > {goals.max_contradicted}")
    share = summary.ended_share
    if share is None or share < goals.min_ended_share:
        got = "not recorded" if share is None else f"{summary.ended}/{summary.ended_of} ({share:.1%})"
        misses.append(f"ended with end-of-turn: {got} < {goals.min_ended_share:.0%}")
    return misses
