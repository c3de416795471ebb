"""Facts a draft states in the wrong role or context, which a value-by-value check cannot see.

``check_draft`` adds these to the value findings (see ``rtletter.model.evaluate.facts``): a side the case never
states, a toxicity graded differently from the case, a date span that ends before it starts, "n × d Gy bis T Gy"
where n × d is not T (total and single dose swapped), the course's session count written as a fraction count, and
a stopped course's planned dose written as delivered.
Each is a contradiction: the value exists in the case, the draft gives it the wrong role.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rtletter.mappers.case import Case, CourseStatus, format_gy
from rtletter.mappers.letter import extract_facts
from rtletter.mappers.toxicity import TOXICITY_DE
from rtletter.model.evaluate.facts import Finding

# --- laterality -------------------------------------------------------------------------------------------------------

_SIDE_WORDS = {
    "left": r"links|linke[nrms]?|linksseitig\w*|left",
    "right": r"rechts|rechte[nrms]?|rechtsseitig\w*|right",
    "bilateral": r"beidseits|beidseitig\w*|bilateral\w*",
}
SIDE_RES = {side: re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", re.IGNORECASE) for side, words in _SIDE_WORDS.items()}


def _sides(text: str) -> set[str]:
    return {side for side, pattern in SIDE_RES.items() if pattern.search(text)}


def _case_sides(case: Case) -> set[str]:
    """Every side the case states: laterality fields, and side words in its own texts (volume names, diagnoses)."""
    sides = {s for s in (case.course.laterality, *(d.laterality for d in case.diagnoses)) if s}
    volumes = [*case.course.volumes, *(v for phase in case.course.phases for v in phase.volumes)]
    sides.update(v.laterality for v in volumes if v.laterality)
    texts = [v.name for v in volumes] + [d.text or "" for d in case.diagnoses]
    texts += [(d.code.display or "") if d.code else "" for d in case.diagnoses]
    texts += [s.text for s in case.surgeries] + [c.display or "" for c in case.course.body_sites]
    texts += [case.course.name or "", *case.follow_up.recommendations, *(n.text for n in case.notes)]
    texts += [p.region for p in case.prior_radiotherapy] + [a.kind + " " + (a.text or "") for a in
                                                             case.follow_up.appointments]  # fmt: skip
    for text in texts:
        sides |= _sides(text)
    return {s for s in sides if s in _SIDE_WORDS}


def laterality_findings(case: Case, draft: str) -> Iterator[Finding]:
    backed = _case_sides(case)
    if not backed:
        return  # the case states no side: nothing to contradict
    for side in sorted(_sides(draft) - backed):
        yield Finding("contradicted", "laterality", side, "side", tuple(sorted(backed)))


# --- toxicity grades --------------------------------------------------------------------------------------------------

_GRADE_RE = re.compile(r"(?:CTCAE[- ])?(?:Grad|grade|°)\s*([1-5])(?!\d)", re.IGNORECASE)


def _term_forms(term: str) -> list[str]:
    forms = {term, TOXICITY_DE.get(term, term), term.replace("Dermatitis radiation", "Radiation dermatitis")}
    return [f.lower() for f in forms if f]


def grade_findings(case: Case, draft: str) -> Iterator[Finding]:
    """A grade right after a toxicity's name ("Radiodermatitis CTCAE Grad 3") must be the case's grade of it."""
    terms = [(form, tox) for tox in case.toxicities if tox.grade for form in _term_forms(tox.term)]
    if not terms:
        return
    lowered = draft.lower()
    previous = 0
    for m in _GRADE_RE.finditer(draft):
        line_start = lowered.rfind("\n", 0, m.start()) + 1
        window_start = max(previous, line_start, m.start() - 80)
        previous = m.end()
        window = lowered[window_start : m.start()]
        nearest = max(((window.rfind(form), tox) for form, tox in terms), key=lambda item: item[0])
        if nearest[0] < 0:
            continue  # a grade not attached to a named toxicity ("keine Nebenwirkungen über Grad 1")
        tox = nearest[1]
        if tox.grade != int(m[1]):
            yield Finding("contradicted", "grade", f"{tox.term} grade {m[1]}", "toxicity grade", (str(tox.grade),))


# --- roles ------------------------------------------------------------------------------------------------------------

_DAY = r"\d{1,2}\.\s?\d{1,2}\.(?:\s?\d{2,4})?"
_EN_DAY = r"\d{1,2}(?:st|nd|rd|th)?\s+[A-Z][a-z]+(?:\s+\d{4})?"
SPAN_RES = (
    re.compile(rf"(?:vom|von|from)\s+({_DAY})\s+(?:bis(?:\s+zum)?|to|until)\s+({_DAY})"),
    re.compile(rf"(?<![\d.])({_DAY})\s*[-–]\s*({_DAY})"),
    re.compile(rf"(?:from|between)\s+({_EN_DAY})\s+(?:to|and|until)\s+({_EN_DAY})"),
)
_NUM = r"\d+(?:[.,]\d{1,3})?"
SCHEME_RE = re.compile(
    rf"(?<![\d.,])(\d{{1,2}})\s*[x×]\s*({_NUM})\s*Gy\s+(?:bis(?:\s+zu)?|ad|auf|to)\s+"
    rf"(?:(?:einer|a)\s+(?:Gesamtdosis|total dose)\s+(?:von|of)\s+)?({_NUM})\s*Gy"
)
_PLANNED_WORDS = re.compile(r"geplant|planned|vorgesehen|intended|verordnet|prescribed|Soll", re.IGNORECASE)


def _number(text: str) -> float:
    return float(text.replace(",", ".").replace(" ", ""))


def role_findings(case: Case, draft: str) -> Iterator[Finding]:
    anchor = case.course.end or case.course.start
    year = anchor.year if anchor else None
    for pattern in SPAN_RES:
        for m in pattern.finditer(draft):
            dates = [f.value for f in extract_facts(m[0], case.language, year) if f.kind == "date"]
            if len(dates) == 2 and dates[0] > dates[1]:
                yield Finding("contradicted", "role", f"{dates[0]} to {dates[1]}", "date span ends before it starts")
    for m in SCHEME_RE.finditer(draft):
        n, single, total = int(m[1]), _number(m[2]), _number(m[3])
        if abs(n * single - total) > 0.02 * max(total, 1.0) + 0.01:
            value = f"{n} x {format_gy(single)} Gy to {format_gy(total)} Gy"
            yield Finding("contradicted", "role", value, "fractions x dose per fraction is not the total")
    sessions = case.course.sessions
    counts = {f.value for f in case.facts() if f.kind == "fractions"}
    if sessions and str(sessions) not in counts:  # the session count backs "30 Sitzungen", not "30 Fraktionen"
        if re.search(rf"(?<![\d.,]){sessions}\s*(?:[x×]|Fraktion|fraction)", draft, re.IGNORECASE):
            yield Finding("contradicted", "role", f"{sessions} fractions", "session count stated as fractions",
                          tuple(sorted(counts)))  # fmt: skip
    if case.course.status is not CourseStatus.stopped:
        return
    volumes = [*case.course.volumes, *(v for phase in case.course.phases for v in phase.volumes)]
    for volume in volumes:
        planned, delivered = volume.planned_total_dose_gy, volume.total_dose_gy
        if planned is None or delivered is None or abs(planned - delivered) < 0.01:
            continue
        text = format_gy(planned)
        written = re.escape(text).replace(r"\.", "[.,]")
        for m in re.finditer(rf"(?<![\d.,]){written}\s*Gy", draft):
            before = draft[max(0, m.start() - 45) : m.start()]
            if not _PLANNED_WORDS.search(before):
                yield Finding("contradicted", "role", f"{text} Gy", "planned dose stated as delivered", (text,))
                break


def context_findings(case: Case, draft: str) -> list[Finding]:
    found = [*laterality_findings(case, draft), *grade_findings(case, draft), *role_findings(case, draft)]
    return list(dict.fromkeys(found))
