"""Fact consistency: is every dose, fraction count, date, ICD code and drug in a draft backed by its case?

Each fact the letter parser (``rtletter.mappers.letter.extract_facts``) finds in the draft is compared with the case:

- supported: the same kind and canonical value is in the case (``Case.facts()``, plus a few case values that are not
  "facts" but may appear in a letter: birth date, toxicity onset, performance-status dates, number of sessions);
- contradicted: not in the case, but the case has a fact of the same kind close enough that the draft is evidently
  stating that fact with a wrong value (our stand-in for "same kind and context"):
    dose within 10 % of a case dose (50,0 Gy for 50,4 Gy; 1,9 Gy for 1,8 Gy), fraction count within 20 % (25 for
    28), date within 14 days of a case date (09.04. for a course ending 08.04.), ICD code in the same three-character
    category (C50.1 for C50.4); drug names are never "close": an unknown drug is unsupported;
- unsupported: anything else (not in the case at all).

Drugs compare by INN: the case's agent texts and the draft's drug names both go through
``rtletter.mappers.letter.drug_names`` (German, English, brand spelling, regimen acronym, ATC code), so
"Capecitabin" in the source backs "capecitabine" in the letter and vice versa.

Beyond single values the draft's text is read for facts stated in the wrong role or context (``check_draft``):

- laterality: a side ("links", "right", ...) the case never states, when the case states another one: contradicted;
- status: an early stop ("vorzeitig beendet", "stopped early") of a course the case records as completed, with no
  phase stopped, or "wie geplant abgeschlossen" ("completed as planned") of a stopped course: contradicted;
- toxicity grade: "<term> ... Grad N" where the case grades that toxicity differently: contradicted;
- tolerance: "gut vertragen" of a course with a grade 3 toxicity, "keine relevanten Nebenwirkungen" with grade 2 or
  more, "höhergradige Nebenwirkungen" with none above grade 2: contradicted;
- slot: a fact slot the case could not fill, left in the letter as the gap ``[[? id]]``: unsupported;
- role: a date span whose start is after its end ("vom 08.04. bis 02.03."), "n × d Gy bis T Gy" where n × d is not
  T, and a value whose own words give it a role its fact slot does not have: the course start after "bis", a dose
  per fraction after "Gesamtdosis", a stopped course's planned dose without "geplant"/"planned", a date after "ED"
  that is not the date of diagnosis: contradicted.

The letter's own date (label ``"letter date"`` from the parser) is not a fact of the case and is not checked.

Omissions: the key facts of the course itself (each volume's total dose, dose per fraction and delivered fractions,
course start and end) that the draft does not state, and the stop of a stopped course that it does not state (its
other facts may all be there: "10 × 3 Gy, 02.03. - 13.03." reads as a course given in full).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from rtletter.mappers.case import Case, Fact, FactKind, format_gy
from rtletter.mappers.letter import drug_names

FindingKind = Literal["unsupported", "contradicted"]
CheckKind = FactKind | Literal["laterality", "grade", "performance", "role", "slot", "status", "tolerance", "intent"]

DOSE_TOLERANCE = 0.10  # relative
FRACTIONS_TOLERANCE = 0.20  # relative
DATE_TOLERANCE_DAYS = 14
UNCHECKED_LABELS = frozenset({"letter date"})  # labels of rtletter.mappers.letter.extract_facts


@dataclass(frozen=True)
class Finding:
    """A draft statement that the case does not back. ``expected`` lists the nearby case values (contradicted)."""

    finding: FindingKind
    kind: CheckKind
    value: str
    label: str
    expected: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"{self.finding}: {self.kind} {self.value}"
        return text + (f" (case: {', '.join(self.expected)})" if self.expected else "")


@dataclass(frozen=True)
class FactReport:
    findings: tuple[Finding, ...]
    omitted: tuple[Fact, ...]  # key course facts the draft does not state
    checked: int  # facts found in the draft

    @property
    def unsupported(self) -> int:
        return sum(f.finding == "unsupported" for f in self.findings)

    @property
    def contradicted(self) -> int:
        return sum(f.finding == "contradicted" for f in self.findings)

    @property
    def consistent(self) -> bool:
        return not self.findings


def canonical(kind: str, value: str) -> str:
    """The canonical text Case.facts() uses, also for values a parser wrote slightly differently."""
    value = value.strip()
    if kind == "dose":
        try:
            return format_gy(float(value.replace(",", ".")))
        except ValueError:
            return value
    if kind == "drug":
        return value.lower()
    if kind == "code":
        return value.upper()
    if kind == "fractions":
        return value.lstrip("0") or "0"
    return value


def _case_values(case: Case) -> dict[str, set[str]]:
    """Every value the case can back, per kind."""
    values: dict[str, set[str]] = {k: set() for k in ("dose", "fractions", "date", "code", "drug")}
    for fact in case.facts():
        if fact.kind == "drug":
            values["drug"].update(drug_names(fact.value))
        else:
            values[fact.kind].add(canonical(fact.kind, fact.value))
    extra_dates: list[date | datetime | None] = [case.patient.birth_date]
    extra_dates += [t.onset for t in case.toxicities] + [p.observed for p in case.performance_status]
    values["date"].update(d.isoformat()[:10] for d in extra_dates if d is not None)
    if case.course.sessions:
        values["fractions"].add(str(case.course.sessions))
    for dx in case.diagnoses:
        if dx.histology:  # ICD-O-3 morphology codes ("8140/3") may be quoted too
            values["code"].add(canonical("code", dx.histology.code))
    return values


def _near_dose(value: str, candidate: str) -> bool:
    a, b = float(value), float(candidate)
    return abs(a - b) <= DOSE_TOLERANCE * max(abs(b), 1e-9)


def _near_fractions(value: str, candidate: str) -> bool:
    a, b = int(value), int(candidate)
    return abs(a - b) <= FRACTIONS_TOLERANCE * b


def _near_date(value: str, candidate: str) -> bool:
    return abs((date.fromisoformat(value) - date.fromisoformat(candidate)).days) <= DATE_TOLERANCE_DAYS


def _near_code(value: str, candidate: str) -> bool:
    return value[:3] == candidate[:3]


_NEAR: dict[str, Callable[[str, str], bool]] = {
    "dose": _near_dose,
    "fractions": _near_fractions,
    "date": _near_date,
    "code": _near_code,
}


def _close_values(kind: str, value: str, candidates: Iterable[str]) -> tuple[str, ...]:
    near = _NEAR.get(kind)
    if near is None:
        return ()
    close = []
    for candidate in sorted(candidates):
        try:
            if near(value, candidate):
                close.append(candidate)
        except ValueError:  # a value the parser could not canonicalise; not comparable
            continue
    return tuple(close)


def key_facts(case: Case) -> list[Fact]:
    """The facts every letter must state: per course volume (or phase volume) total dose, dose per fraction and
    delivered fractions, and the course's start and end."""
    found: dict[tuple[str, str], Fact] = {}

    def add(kind: FactKind, value: object, label: str) -> None:
        if value is None:
            return
        if kind == "dose":
            text = format_gy(float(value))  # type: ignore[arg-type]
        elif kind == "date":
            text = value.isoformat()[:10]  # type: ignore[attr-defined]
        else:
            text = str(value)
        found.setdefault((kind, text), Fact(kind=kind, value=text, label=label))

    course = case.course
    volumes = course.volumes or [v for phase in course.phases for v in phase.volumes]
    for volume in volumes:
        add("dose", volume.total_dose_gy, f"total dose {volume.name}")
        add("dose", volume.dose_per_fraction_gy, f"dose per fraction {volume.name}")
        add("fractions", volume.fractions_delivered, f"fractions delivered {volume.name}")
    add("date", course.start, "course start")
    add("date", course.end, "course end")
    return list(found.values())


def code_stated(case: Case, letter: str) -> bool:
    """Whether the letter writes a diagnosis code of the case (True for a case without one)."""
    codes = [dx.code.code for dx in case.diagnoses if dx.code is not None and dx.code.code]
    return not codes or any(code in letter for code in codes)


def check_facts(case: Case, draft_facts: Iterable[Fact]) -> FactReport:
    """Compare facts found in a draft with the case (see the module docstring for the rules)."""
    backed = _case_values(case)
    findings: list[Finding] = []
    stated: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    checked = 0
    for fact in draft_facts:
        if fact.label in UNCHECKED_LABELS:
            continue
        value = canonical(fact.kind, fact.value)
        key = (fact.kind, value)
        stated.add(key)
        if key in seen:  # the same statement twice is one finding
            continue
        seen.add(key)
        checked += 1
        if value in backed[fact.kind]:
            continue
        close = _close_values(fact.kind, value, backed[fact.kind])
        findings.append(Finding("contradicted" if close else "unsupported", fact.kind, value, fact.label, close))
    omitted = tuple(f for f in key_facts(case) if (f.kind, f.value) not in stated)
    return FactReport(findings=tuple(findings), omitted=omitted, checked=checked)


def _slot_gaps(draft: str) -> tuple[Finding, ...]:
    """A slot the case could not fill ("[[? dose_fx.1]]": no value, or an id the case does not have)."""
    from rtletter.mappers.slots import GAP_PATTERN

    ids = dict.fromkeys(m["id"] for m in GAP_PATTERN.finditer(draft))
    return tuple(Finding("unsupported", "slot", slot_id, "slot without a value in the case") for slot_id in ids)


def check_draft(case: Case, draft: str) -> FactReport:
    """Extract the facts of a draft in the case's language and check them against the case."""
    from rtletter.mappers.letter import extract_facts

    # Partial dates ("vom 02.03. bis ...") without a full date nearby take the course's year.
    anchor = case.course.end or case.course.start
    facts = extract_facts(draft, case.language, reference_year=anchor.year if anchor else None)
    report = check_facts(case, facts)
    from rtletter.model.evaluate.context import context_findings, stop_omitted

    extra = tuple(f for f in context_findings(case, draft) if f not in report.findings)
    extra += _slot_gaps(draft)
    omitted = report.omitted + tuple(stop_omitted(case, draft))
    return FactReport(findings=report.findings + extra, omitted=omitted, checked=report.checked + len(extra))


__all__ = ["FactReport", "Finding", "canonical", "check_draft", "check_facts", "code_stated", "key_facts"]
