"""How far the fact check can be trusted: recall per kind of injected error, and false alarms on clean letters.

Takes the reference letters of the synthetic cohort (``rtletter.demo.synth``; German and English), injects one error of
one kind into a copy (dose, fraction count, date, ICD code, drug, laterality, toxicity grade, performance status, an
early stop of a completed course, a stopped course told as completed, a tolerance the worst toxicity grade belies,
the other intent ("kurativ" of a palliative course); values swapped between roles: start/end date, total/single dose;
one value written where the other role's slot stands, found through the letter's own fact slots: the end date as the
start date, the total dose as the dose per fraction), and counts the copies whose check has a finding the clean letter
does not have. A kind that a letter gives no place for (no drug, no side) is not counted for that letter. The clean
share is the share of unmodified reference letters (and of template-backend letters) with any finding.

    python bench/fact_check.py [--patients 200] [--seed 7]

Goals (issue 12): recall 100 % for doses, fractions, dates and codes; <= 5 % of clean letters with any finding.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import date, timedelta

from rtletter.demo.synth.generate import synthesize
from rtletter.demo.synth.letters import MONTHS_EN
from rtletter.mappers.case import Case, CourseStatus, Intent
from rtletter.mappers.claims import NOT_CURATIVE
from rtletter.mappers.letter import DRUGS, extract_facts
from rtletter.mappers.prompt import INTENT
from rtletter.mappers.slots import case_slots, delexicalise, fill
from rtletter.mappers.template_letter import render_letter
from rtletter.model.evaluate.context import SCHEME_RE, SIDE_RES, SPAN_RES
from rtletter.model.evaluate.facts import check_draft

Injector = Callable[[Case, str], str | None]


def _gy(value: float, lang: str) -> str:
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "de" else text


def _day(value: date, lang: str) -> str:
    return f"{value:%d.%m.%Y}" if lang == "de" else f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def _values(case: Case, kind: str) -> set[str]:
    return {f.value for f in case.facts() if f.kind == kind}


def inject_dose(case: Case, text: str) -> str | None:
    volume = next((v for v in case.course.volumes if v.total_dose_gy), None)
    if volume is None or volume.total_dose_gy is None:
        return None
    written = f"{_gy(volume.total_dose_gy, case.language)} Gy"
    if written not in text:
        return None
    doses = {float(v) for v in _values(case, "dose")}
    new = next(volume.total_dose_gy + step for step in (1.8, 2.0, 3.0, 4.4, 5.0) if volume.total_dose_gy + step
               not in doses)  # fmt: skip
    return text.replace(written, f"{_gy(new, case.language)} Gy", 1)


def inject_fractions(case: Case, text: str) -> str | None:
    volume = next((v for v in case.course.volumes if v.fractions_delivered and v.fractions_delivered > 1), None)
    if volume is None:
        return None
    n = volume.fractions_delivered
    pattern = re.compile(rf"(?<![\d.,]){n}(?=\s*(?:×|Fraktion|fraction))")
    if not pattern.search(text):
        return None
    taken = _values(case, "fractions")
    new = next(n + step for step in (2, 3, 5, 7) if str(n + step) not in taken)
    return pattern.sub(str(new), text, count=1)


def inject_date(case: Case, text: str) -> str | None:
    end = case.course.end
    if end is None or _day(end, case.language) not in text:
        return None
    taken = _values(case, "date")
    new = next(end + timedelta(days=d) for d in (3, 4, 5, 9) if (end + timedelta(days=d)).isoformat() not in taken)
    return text.replace(_day(end, case.language), _day(new, case.language), 1)


def inject_code(case: Case, text: str) -> str | None:
    dx = case.primary_diagnosis
    if dx is None or dx.code is None:
        return None
    code = dx.code.code
    pattern = re.compile(rf"(?<![\w.]){re.escape(code)}(?![\w]|\.\d)")
    if not pattern.search(text):
        return None
    taken = _values(case, "code")
    head, tail = code[:3], code[3:]
    for other in (f"{head[0]}{(int(head[1:]) + 1) % 100:02d}{tail}", f"{head}.9" if not tail else f"{head}.7"):
        if other not in taken:
            return pattern.sub(other, text, count=1)
    return None


_DRUG_RE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(DRUGS, key=len, reverse=True)) + r")"
                      r"(?![\w-])", re.IGNORECASE)  # fmt: skip


def inject_drug(case: Case, text: str) -> str | None:
    m = _DRUG_RE.search(text)
    if m is None:
        return None
    used = set(DRUGS[m[1].lower()])
    replacement = next(d for d in ("Cisplatin", "Docetaxel", "Pembrolizumab") if d.lower() not in used)
    return text[: m.start()] + replacement + text[m.end() :]


_OPPOSITE = {"links": "rechts", "rechts": "links", "left": "right", "right": "left"}


def inject_laterality(case: Case, text: str) -> str | None:
    for side in ("left", "right"):
        m = SIDE_RES[side].search(text)
        if m and m[0].lower() in _OPPOSITE:
            return text[: m.start()] + _OPPOSITE[m[0].lower()] + text[m.end() :]
    return None


def inject_grade(case: Case, text: str) -> str | None:
    m = re.search(r"(CTCAE (?:Grad|grade) )([1-4])", text)
    if m is None or not case.toxicities:
        return None
    grade = int(m[2])
    return text[: m.start(2)] + str(grade + 1 if grade < 3 else grade - 1) + text[m.end(2) :]


def inject_swap_dates(case: Case, text: str) -> str | None:
    start, end = case.course.start, case.course.end
    if start is None or end is None or start == end:
        return None
    year = end.year
    for pattern in SPAN_RES:
        for m in pattern.finditer(text):
            dates = [f.value for f in extract_facts(m[0], case.language, year) if f.kind == "date"]
            if dates == [start.isoformat(), end.isoformat()]:
                swapped = m[0][: m.start(1) - m.start()] + _day(end, case.language)
                swapped += m[0][m.end(1) - m.start() : m.start(2) - m.start()] + _day(start, case.language)
                return text[: m.start()] + swapped + m[0][m.end(2) - m.start() :] + text[m.end() :]
    return None


def inject_swap_doses(case: Case, text: str) -> str | None:
    m = SCHEME_RE.search(text)
    if m is None or m[2] == m[3]:
        return None
    return text[: m.start(2)] + m[3] + text[m.end(2) : m.start(3)] + m[2] + text[m.end(3) :]


def _slot_in_wrong_role(case: Case, text: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """The first place where the letter writes slot ``a`` gets the value of slot ``b`` (another role, another value),
    in the same form: found through the letter's own fact slots, however the letter phrases it."""
    table = case_slots(case)
    slotted = delexicalise(text, table, case.language).text
    for a, b in pairs:
        if a not in table or b not in table or table[a].value == table[b].value:
            continue
        m = re.search(rf"\[{re.escape(a)}(:[a-z0-9]+)?\]", slotted)
        if m:
            slotted = slotted[: m.start()] + f"[{b}{m[1] or ''}]" + slotted[m.end() :]
            return fill(slotted, table, case.language).text
    return None


def inject_slot_date_role(case: Case, text: str) -> str | None:
    return _slot_in_wrong_role(case, text, (("date_end", "date_start"), ("date_start", "date_end")))


def inject_slot_dose_role(case: Case, text: str) -> str | None:
    return _slot_in_wrong_role(case, text, (("dose_total.1", "dose_fx.1"), ("dose_fx.1", "dose_total.1")))


def inject_performance(case: Case, text: str) -> str | None:
    """The first performance status the letter states (found as its slot) gets a value the case does not hold."""
    table = case_slots(case)
    slotted = delexicalise(text, table, case.language).text
    m = re.search(r"\[(ps\.\d+)\]", slotted)
    if m is None:
        return None
    slot = table[m[1]]
    held = {s.value for s in table if s.role == "ps" and s.label == slot.label}
    other = next(v for v in ((4, 3, 2) if slot.label == "ECOG" else (50, 40, 30)) if v not in held)
    return fill(slotted[: m.start()] + str(other) + slotted[m.end() :], table, case.language).text


def _course_end_said(text: str, said: str) -> str | None:
    """``said`` as a line of its own after the first line with a dose (the stand-in's XRTS-03 draft)."""
    m = re.search(r"Gy[^\n]*\n", text)
    return None if m is None else f"{text[: m.end()]}{said}\n{text[m.end() :]}"


def inject_early_stop(case: Case, text: str) -> str | None:
    """A completed course told as stopped early."""
    if not case.course.completed_as_planned:
        return None
    return _course_end_said(text, "Die Bestrahlung wurde vorzeitig beendet." if case.language == "de"
                            else "Radiotherapy was stopped early.")  # fmt: skip


def inject_completion(case: Case, text: str) -> str | None:
    """A stopped course told as completed as planned."""
    if case.course.status is not CourseStatus.stopped:
        return None
    return _course_end_said(text, "Die Bestrahlung wurde wie geplant abgeschlossen." if case.language == "de"
                            else "Radiotherapy was completed as planned.")  # fmt: skip


# A tolerance sentence the case's worst grade belies: for grade 3 and more, grade 2, and grade 1 or none.
_BELIED = {
    3: ("Die Behandlung wurde gut vertragen.", "Treatment was well tolerated."),
    2: ("Relevante Akutnebenwirkungen traten nicht auf.", "There were no relevant acute side effects."),
    1: (
        "Die Therapie war durch höhergradige Nebenwirkungen belastet.",
        "Treatment was complicated by grade 3 side effects.",
    ),
}


def inject_tolerance(case: Case, text: str) -> str | None:
    """A tolerance the worst toxicity grade belies ("gut vertragen" with grade 3)."""
    if any(t.grade is None for t in case.toxicities):
        return None
    german, english = _BELIED[min(max(case.worst_grade, 1), 3)]
    return _course_end_said(text, german if case.language == "de" else english)


def inject_intent(case: Case, text: str) -> str | None:
    """The other intent where the letter states the course's: "palliativer Intention" of a curative course."""
    words = INTENT[case.language]
    if case.course.intent is Intent.unknown:
        return None
    other = Intent.curative if case.course.intent in NOT_CURATIVE else Intent.palliative
    stated = re.search(rf"\b{words[case.course.intent]}", text, re.IGNORECASE)
    if stated is None:
        return None
    replacement = words[other] if text[stated.start()].islower() else words[other].capitalize()
    return text[: stated.start()] + replacement + text[stated.end() :]


INJECTORS: dict[str, Injector] = {
    "dose": inject_dose,
    "fractions": inject_fractions,
    "date": inject_date,
    "code": inject_code,
    "drug": inject_drug,
    "laterality": inject_laterality,
    "toxicity grade": inject_grade,
    "performance status": inject_performance,
    "early stop": inject_early_stop,
    "stop told as completed": inject_completion,
    "tolerance": inject_tolerance,
    "intent": inject_intent,
    "swap start/end date": inject_swap_dates,
    "swap total/single dose": inject_swap_doses,
    "date in the other role": inject_slot_date_role,
    "dose in the other role": inject_slot_dose_role,
}


def _findings(case: Case, text: str) -> set[str]:
    return {f.describe() for f in check_draft(case, text).findings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200, help="synthetic patients per language")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    applicable = dict.fromkeys(INJECTORS, 0)
    detected = dict.fromkeys(INJECTORS, 0)
    clean_letters = clean_flagged = template_flagged = 0
    for lang in ("de", "en"):
        for synthetic in synthesize(args.patients, args.seed, lang):
            case, letter = synthetic.case, synthetic.letter
            clean = _findings(case, letter)
            clean_letters += 1
            clean_flagged += bool(clean)
            template_flagged += bool(_findings(case, render_letter(case)))
            for kind, inject in INJECTORS.items():
                changed = inject(case, letter)
                if changed is None or changed == letter:
                    continue
                applicable[kind] += 1
                detected[kind] += bool(_findings(case, changed) - clean)
    print(f"fact check on {clean_letters} synthetic reference letters (de + en, seed {args.seed})")
    print(f"{'injected error':<24}{'letters':>8}{'detected':>10}{'recall':>9}")
    for kind in INJECTORS:
        n = applicable[kind]
        recall = f"{detected[kind] / n:.1%}" if n else "-"
        print(f"{kind:<24}{n:>8}{detected[kind]:>10}{recall:>9}")
    print(f"clean reference letters with any finding: {clean_flagged}/{clean_letters} "
          f"({clean_flagged / clean_letters:.1%})")  # fmt: skip
    print(f"template-backend letters with any finding: {template_flagged}/{clean_letters} "
          f"({template_flagged / clean_letters:.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
