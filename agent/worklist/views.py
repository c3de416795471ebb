"""What the worklist pages show, computed from a job: list rows, the source facts with their origin, the fact-check
findings and where they sit in the letter. Pure functions over ``Job`` and ``Case`` (no web, no database).

Findings come from ``rtletter.model.evaluate.facts.check_draft``; to mark them in the text the letter is checked line
by line (a finding belongs to the lines whose own facts contain it) and, inside a line, the value's written forms
(``50,4`` for 50.4 Gy, ``09.03.2026`` for 2026-03-09, a drug's German name for its INN) are marked. A finding whose
written form is not found marks its whole line, so that nothing flagged goes unseen.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from rtletter.agent.jobs.job import Job
from rtletter.agent.jobs.worker import redraft_choice
from rtletter.mappers.case import Case, format_gy
from rtletter.mappers.letter import DRUGS, MONTHS, extract_facts
from rtletter.model.evaluate.facts import FactReport, Finding, canonical, check_draft

FLAG_TEXT = {"course_updated_after_draft": "course changed after drafting"}
TRUNCATED_TEXT = "draft cut off at the token limit"  # the model stopped at max_new_tokens, not at its end of turn
_FHIR_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def owner_key(owner: str) -> str:
    """An opaque filter value for an owner, so that no name appears in a URL."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:12]


def load_case(job: Job) -> Case | None:
    return Case.model_validate_json(job.case_json) if job.case_json else None


def _fmt_date(value: date | datetime | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def age_text(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def drafted_at(job: Job) -> datetime:
    stamp = str(job.draft_meta.get("generated_at") or "")
    try:
        return datetime.fromisoformat(stamp) if stamp else job.created_at
    except ValueError:
        return job.created_at


def entity_of(case: Case) -> str:
    dx = case.primary_diagnosis
    if dx is None:
        return ""
    code = dx.code.code if dx.code else ""
    return " ".join(p for p in (code, dx.text or "") if p)


def owner_of(case: Case) -> str:
    physician = case.treating_physician
    return physician.name if physician and physician.name else ""


def owner_reference(case: Case) -> str:
    """The treating physician's FHIR reference without version, as the draft's Task carries it as owner."""
    source = case.treating_physician.source if case.treating_physician else None
    if source and source.split("/", 1)[0] in ("Practitioner", "PractitionerRole"):
        return source.split("/_history/", 1)[0]
    return ""


@dataclass(frozen=True)
class Row:
    job_id: int
    status: str
    patient: str
    patient_id: str
    birth_date: str
    entity: str
    course: str
    drafted: datetime
    age: str
    owner: str
    owner_key: str
    owner_reference: str  # "Practitioner/123": the "mine" filter compares it with the user's practitioner
    flags: tuple[str, ...]
    findings: int


def row_of(job: Job, now: datetime) -> Row:
    case = load_case(job)
    flags = [FLAG_TEXT.get(f, str(f)) for f in sorted(job.flags)]
    if job.draft_meta.get("truncated") == "true":
        flags.append(TRUNCATED_TEXT)
    findings = omitted = 0
    if "findings" in job.draft_meta:  # the worker's draft-time check of this text
        findings = int(job.draft_meta["findings"])
        omitted = int(job.draft_meta.get("omitted", 0))  # drafts stored before omissions were kept: none known
    elif case is not None and job.case_json and job.draft_text:
        findings, omitted = _check_counts(job.case_json, job.draft_text)
    if findings:
        flags.append(f"{findings} fact-check finding{'s' if findings != 1 else ''}")
    if omitted:
        flags.append(f"{omitted} key fact{'s' if omitted != 1 else ''} not stated")
    owner = owner_of(case) if case else ""
    drafted = drafted_at(job)
    return Row(
        job_id=job.id,
        status=str(job.status),
        patient=case.patient.name if case else "",
        patient_id=case.patient.id if case else "",
        birth_date=_fmt_date(case.patient.birth_date) if case else "",
        entity=entity_of(case) if case else "",
        course=f"{_fmt_date(case.course.start)} – {_fmt_date(case.course.end)}" if case else "",
        drafted=drafted,
        age=age_text(drafted, now),
        owner=owner,
        owner_key=owner_key(owner) if owner else "",
        owner_reference=owner_reference(case) if case else "",
        flags=tuple(flags),
        findings=findings,
    )


def list_order(row: Row) -> tuple[bool, datetime, int]:
    """The worklist's order: drafts with a flag (fact-check findings, key facts not stated, truncation, a changed
    course) first, then the oldest first."""
    return (not row.flags, row.drafted, row.job_id)


# --- source facts -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFact:
    section: str
    label: str
    value: str
    source: str  # as the case carries it: "Procedure/1/_history/2", "PID", "OBX volume 1"
    link: str | None  # the FHIR resource URL or the stored message page


def _gy(value: float | None) -> str:
    return f"{format_gy(value)} Gy" if value is not None else ""


def _join(*parts: object) -> str:
    return ", ".join(str(p) for p in parts if p not in (None, "", [], ()))


def source_link(source: str | None, *, fhir_base: str | None, message_url: str | None) -> str | None:
    """Where a fact's ``source`` can be opened: the FHIR server for a resource reference, else the stored message."""
    if not source:
        return None
    if _FHIR_REFERENCE.match(source):
        return f"{fhir_base.rstrip('/')}/{source}" if fhir_base else None
    if message_url:
        segment = re.match(r"[A-Z][A-Z0-9]{2}", source)
        return f"{message_url}#seg-{segment.group(0)}" if segment else message_url
    return None


def slot_values(
    meta: dict[str, Any], *, fhir_base: str | None = None, message_url: str | None = None
) -> list[SourceFact]:
    """The values the draft's fact slots were filled with (the worker's ``slot_sources``), each with its origin."""
    try:
        entries = json.loads(meta.get("slot_sources") or "[]")
    except ValueError:
        return []
    return [
        SourceFact(
            "Filled values",
            str(e.get("slot", "")),
            str(e.get("value", "")),
            str(e.get("source") or ""),
            source_link(e.get("source"), fhir_base=fhir_base, message_url=message_url),
        )  # fmt: skip
        for e in entries
        if isinstance(e, dict)
    ]


def source_facts(case: Case, *, fhir_base: str | None = None, message_url: str | None = None) -> list[SourceFact]:
    """The case's facts grouped by section, each with its origin."""
    facts: list[SourceFact] = []

    def add(section: str, label: str, value: object, source: str | None) -> None:
        if value in (None, "", [], ()):
            return
        link = source_link(source, fhir_base=fhir_base, message_url=message_url)
        facts.append(SourceFact(section, label, str(value), source or "", link))

    p = case.patient
    add("Patient", "name", p.name, p.source)
    add("Patient", "patient id", p.id, p.source)
    add("Patient", "birth date", _fmt_date(p.birth_date), p.source)
    if p.deceased:
        add("Patient", "deceased", "yes", p.source)
    for role, doc in (("treating", case.treating_physician), ("referring", case.referring_physician)):
        if doc is not None:
            add("Physicians", role, _join(doc.name, doc.organization), doc.source)
    for dx in case.diagnoses:
        code = dx.code.code if dx.code else None
        add("Diagnoses", f"{dx.role} diagnosis", _join(code, dx.text, dx.laterality), dx.source)
        add("Diagnoses", "histology", _join(dx.histology.code if dx.histology else None, dx.grade), dx.source)
        add("Diagnoses", "TNM / stage", _join(dx.tnm, dx.stage), dx.source)
        add("Diagnoses", "receptor status", dx.receptor_status, dx.source)
        add("Diagnoses", "diagnosed", _fmt_date(dx.diagnosis_date), dx.source)
    for surgery in case.surgeries:
        add("History", "surgery", _join(surgery.text, _fmt_date(surgery.performed)), surgery.source)
    for therapy in case.systemic_therapies:
        span = _join(_fmt_date(therapy.start), _fmt_date(therapy.end))
        add("History", "systemic therapy", _join(", ".join(therapy.agents), therapy.dose, span), therapy.source)
    for prior in case.prior_radiotherapy:
        add(
            "History",
            "prior radiotherapy",
            _join(prior.region, _gy(prior.total_dose_gy), prior.fractions),
            prior.source,
        )
    c = case.course
    add("Course", "course", _join(c.name, c.status, c.intent), c.source)
    add("Course", "start", _fmt_date(c.start), c.source)
    add("Course", "end", _fmt_date(c.end), c.source)
    add("Course", "technique", _join(*c.modalities, *c.techniques, c.energy, c.image_guidance), c.source)
    if c.status_reason:
        add("Course", "status reason", c.status_reason.display or c.status_reason.code, c.source)
    volumes = [(None, v) for v in c.volumes] + [(ph, v) for ph in c.phases for v in ph.volumes]
    for phase in c.phases:
        span = f"{_fmt_date(phase.start)} – {_fmt_date(phase.end)}" if phase.start or phase.end else ""
        add(
            "Course",
            f"phase {phase.name or ''}".strip(),
            _join(span, phase.fractions_delivered and f"{phase.fractions_delivered} fx"),
            phase.source,
        )
    for owner, v in volumes:
        dose = _join(
            _gy(v.total_dose_gy),
            v.dose_per_fraction_gy and f"{_gy(v.dose_per_fraction_gy)}/fx",
            v.fractions_delivered and f"{v.fractions_delivered} fx",
        )
        planned = _join(_gy(v.planned_total_dose_gy), v.fractions_planned and f"{v.fractions_planned} fx")
        label = f"volume {v.name}" + (f" ({owner.name})" if owner is not None and owner.name else "")
        add("Course", label, dose + (f" (planned {planned})" if planned else ""), v.source or c.source)
    for therapy in c.concurrent_therapy:
        span = _join(_fmt_date(therapy.start), _fmt_date(therapy.end))
        add("Course", "concurrent therapy", _join(", ".join(therapy.agents), therapy.dose, span), therapy.source)
    if c.brachytherapy:
        b = c.brachytherapy
        add(
            "Course", "brachytherapy", _join(b.source_isotope, b.dose_rate, _gy(b.total_dose_gy), b.fractions), c.source
        )
    for gap in case.interruptions:
        add(
            "Course",
            "interruption",
            _join(_fmt_date(gap.start), _fmt_date(gap.end), gap.days and f"{gap.days} d", gap.reason),
            gap.source,
        )
    for tox in case.toxicities:
        add(
            "Toxicity",
            tox.term,
            _join(tox.grade and f"grade {tox.grade}", tox.severity, _fmt_date(tox.onset)),
            tox.source,
        )
    for ps in case.performance_status:
        add("Status", ps.scale, _join(ps.value, _fmt_date(ps.observed)), ps.source)
    for appointment in case.follow_up.appointments:
        add("Follow-up", appointment.kind, _join(_fmt_date(appointment.when), appointment.text), appointment.source)
    for n, recommendation in enumerate(case.follow_up.recommendations):
        add("Follow-up", "recommendation", recommendation, case.follow_up.recommendation_source(n))
    for note in case.notes:
        add("Notes", _join(note.author, _fmt_date(note.written)) or "note", note.text, note.source)
    return facts


# --- fact check and highlighting --------------------------------------------------------------------------------------


def fact_report(case: Case, text: str) -> FactReport:
    return check_draft(case, text)


@lru_cache(maxsize=4096)
def _check_counts(case_json: str, text: str) -> tuple[int, int]:
    """(findings, key facts not stated) of a list row, remembered: checking a letter costs about 10 ms and the list
    is reloaded often."""
    report = fact_report(Case.model_validate_json(case_json), text)
    return len(report.findings), len(report.omitted)


def _written_forms(finding: Finding) -> list[re.Pattern[str]]:
    """Regular expressions for the ways a letter may write the finding's value."""
    value = finding.value
    if finding.kind == "dose":
        whole, _, decimals = value.partition(".")
        tail = rf"[.,]{decimals}0*" if decimals else r"(?:[.,]0+)?"
        return [re.compile(rf"(?<![\d.,]){re.escape(whole)}{tail}(?![\d])")]
    if finding.kind == "fractions":
        return [re.compile(rf"(?<![\d.,])0?{re.escape(value)}(?![\d.,]\d|\d)")]
    if finding.kind == "code":
        return [re.compile(rf"(?<![\w.]){re.escape(value)}(?![\w]|\.\d)", re.IGNORECASE)]
    if finding.kind == "drug":
        spellings = [k for k, inns in DRUGS.items() if value in inns] or [value]
        alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
        return [re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)]
    if finding.kind == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return [re.compile(re.escape(value))]
        names = sorted((name for name, number in MONTHS.items() if number == day.month), key=len, reverse=True)
        months = "|".join(re.escape(name) for name in names)  # longest first: "Januar" before "Jan"
        d, m = day.day, day.month
        return [
            re.compile(rf"(?<!\d)0?{d}\.\s?0?{m}\.(?:\s?(?:{day.year}|{day.year % 100:02d})(?!\d))?"),
            re.compile(re.escape(value)),
            re.compile(rf"(?<!\d)0?{d}\.?\s+(?:{months})\.?(?:\s+{day.year})?", re.IGNORECASE),
            re.compile(rf"(?:{months})\.?\s+0?{d}(?!\d)(?:,?\s+{day.year})?", re.IGNORECASE),
        ]
    return [re.compile(re.escape(value))]


@dataclass(frozen=True)
class Segment:
    text: str
    note: str | None = None  # the finding, for the title and the legend
    kind: str = ""  # "unsupported" | "contradicted" | ""
    anchor: str = ""  # "finding-<n>" on the first place of finding n, for the links of the findings list


@dataclass
class Highlighted:
    segments: list[Segment] = field(default_factory=list)
    unplaced: list[Finding] = field(default_factory=list)  # findings found nowhere (should not happen)


def highlight(case: Case, text: str, findings: tuple[Finding, ...]) -> Highlighted:
    """Split ``text`` into segments, marking each finding where it is written."""
    out = Highlighted()
    if not findings:
        out.segments.append(Segment(text))
        return out
    anchor = case.course.end or case.course.start
    year = anchor.year if anchor else None
    placed: set[Finding] = set()
    for line in text.splitlines(keepends=True):
        stated = {(f.kind, canonical(f.kind, f.value)) for f in extract_facts(line, case.language, year)}
        here = [f for f in findings if (f.kind, f.value) in stated]
        if not here:
            out.segments.append(Segment(line))
            continue
        spans: list[tuple[int, int, Finding]] = []
        for finding in here:
            for pattern in _written_forms(finding):
                for m in pattern.finditer(line):
                    if not any(m.start() < e and s < m.end() for s, e, _ in spans):
                        spans.append((m.start(), m.end(), finding))
            placed.add(finding)
        if not spans:  # written in a form we do not know: mark the whole line
            body = line.rstrip("\n")
            note = "; ".join(f.describe() for f in here)
            out.segments.append(Segment(body, note, here[0].finding))
            out.segments.append(Segment(line[len(body) :]))
            continue
        at = 0
        for start, end, finding in sorted(spans, key=lambda s: s[0]):
            out.segments.append(Segment(line[at:start]))
            out.segments.append(Segment(line[start:end], finding.describe(), finding.finding))
            at = end
        out.segments.append(Segment(line[at:]))
    out.unplaced = [f for f in findings if f not in placed]
    first: dict[str, int] = {}
    for i, segment in enumerate(out.segments):
        for n, finding in enumerate(findings):
            if segment.note and finding.describe() in segment.note:
                first.setdefault(f"finding-{n}", i)
    for finding_anchor, i in first.items():
        out.segments[i] = replace(out.segments[i], anchor=finding_anchor)
    return out


def draft_model(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The draft's provenance for the page: model (base + adapter), language, tokens, time."""
    names = {
        "model": "model",
        "adapter": "adapter",
        "language": "language",
        "prompt_tokens": "prompt tokens",
        "completion_tokens": "generated tokens",
        "seconds": "seconds",
        "generated_at": "generated at",
    }
    shown = [(label, str(meta[key])) for key, label in names.items() if meta.get(key)]
    if chosen := redraft_choice(meta, faults=True):  # the first draft was faulted (model.redraft)
        shown.append(("redrafted", chosen))
    if "non_words" in meta:  # words the site's letters never use: a derailed model's fragments, or a rare word
        unknown = json.loads(meta["non_words"])
        shown.append(("words not in the site's letters", ", ".join(unknown) if unknown else "none"))
    hidden = {"fact_check", "slot_sources", "redraft", "non_words"}  # listed beside the letter, or above
    shown += [(key, str(value)) for key, value in sorted(meta.items()) if key not in names and key not in hidden]
    return shown
