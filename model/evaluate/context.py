"""Facts a draft states in the wrong role or context, which a value-by-value check cannot see.

``check_draft`` adds these to the value findings (see ``rtletter.model.evaluate.facts``): a side the case never states,
a toxicity graded differently from the case, a performance status the case does not hold, a date span that ends before
it starts, "n × d Gy bis T Gy" where n × d is not T (total and single dose swapped), an early stop of a completed
course, a tolerance the worst toxicity grade belies ("gut vertragen" with grade 3), the course's session count written
as a fraction count, and a value whose own words give it a role its fact slot does not have (``slot_role_findings``: a
start date after "bis", a stopped course's planned dose written as delivered, a dose per fraction after
"Gesamtdosis", a course date after "ED", where only the dose per fraction or the date of diagnosis belongs).
Each is a contradiction: the value exists in the case, the draft gives it the wrong role.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rtletter.mappers.case import Case, CourseStatus, Fact, TargetVolume, format_gy
from rtletter.mappers.claims import INTENT_CLAIMS, belied_claims, claims_in
from rtletter.mappers.letter import extract_facts
from rtletter.mappers.slots import (
    Slot,
    SlotTable,
    case_slots,
    date_cue,
    delexicalise,
    diagnosis_date_due,
    dose_cue,
)
from rtletter.mappers.slots.cues import NOT_PS_AFTER, PLAN_OF, PS_WORD, TOTAL_ROLES
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


def _volumes(case: Case) -> list[TargetVolume]:
    return [*case.course.volumes, *(v for phase in case.course.phases for v in phase.volumes)]


def case_texts(case: Case) -> list[str]:
    """The case's own words that a letter may quote: a volume "PTV Mamma links" backs "links", a course named
    "palliative Radiatio" backs "palliativ"."""
    texts = [v.name for v in _volumes(case)] + [d.text or "" for d in case.diagnoses]
    texts += [(d.code.display or "") if d.code else "" for d in case.diagnoses]
    texts += [s.text for s in case.surgeries] + [c.display or "" for c in case.course.body_sites]
    texts += [case.course.name or "", *case.follow_up.recommendations, *(n.text for n in case.notes)]
    texts += [p.region for p in case.prior_radiotherapy] + [t.text or "" for t in case.systemic_therapies]
    texts += [a.kind + " " + (a.text or "") for a in case.follow_up.appointments]
    return texts


def _case_sides(case: Case) -> set[str]:
    """Every side the case states: laterality fields, and side words in its own texts (volume names, diagnoses)."""
    sides = {s for s in (case.course.laterality, *(d.laterality for d in case.diagnoses)) if s}
    sides.update(v.laterality for v in _volumes(case) if v.laterality)
    for text in case_texts(case):
        sides |= _sides(text)
    return {s for s in sides if s in _SIDE_WORDS}


def laterality_findings(case: Case, draft: str) -> Iterator[Finding]:
    backed = _case_sides(case)
    if not backed:
        return  # the case states no side: nothing to contradict
    for side in sorted(_sides(draft) - backed):
        yield Finding("contradicted", "laterality", side, "side", tuple(sorted(backed)))


# --- course status ----------------------------------------------------------------------------------------------------

EARLY_STOP = re.compile(  # a stop stated, in the words letters use
    r"vorzeitig\s+(?:beendet|abgebrochen)|\babgebrochen\b|Therapieabbruch|stopped\s+early|terminated\s+early|"
    r"discontinued\s+early",
    re.IGNORECASE,
)


_AS_PLANNED = re.compile(
    r"(?:wie\s+geplant|planm(?:ä|ae)(?:ß|ss)ig|regul(?:ä|ae)r)\s+(?:abgeschlossen|beendet|durchgeführt)|"
    r"completed\s+as\s+planned|completed\s+without\s+interruption",
    re.IGNORECASE,
)


def status_findings(case: Case, draft: str) -> Iterator[Finding]:
    """A draft that states the wrong end of the course: an early stop of a course the case records as completed with
    no phase stopped ("wurde nach 4 von 4 geplanten Fraktionen ... vorzeitig beendet"), or a stopped course "wie
    geplant abgeschlossen" (the letter turns a stop into a completed course)."""
    course = case.course
    if course.completed_as_planned:
        match = EARLY_STOP.search(draft)
        if match is not None:
            yield Finding("contradicted", "status", match.group(0), "early stop of a completed course", ("completed",))
    elif course.status is CourseStatus.stopped:
        match = _AS_PLANNED.search(draft)
        if match is not None:
            yield Finding("contradicted", "status", match.group(0), "stopped course told as completed", ("stopped",))


def stop_omitted(case: Case, draft: str) -> Iterator[Fact]:
    """The stop of a stopped course, when the draft does not state one: an omission, not a contradiction (nothing the
    draft says is wrong), and the one a reviewer most needs to see (a letter that gives "10 × 3 Gy" of 30 planned
    fractions reads as a course given in full)."""
    if case.course.status is CourseStatus.stopped and EARLY_STOP.search(draft) is None:
        yield Fact(kind="status", value="stopped early", label="end of the course")


# --- tolerance ------------------------------------------------------------------------------------------------------


def tolerance_findings(case: Case, draft: str) -> Iterator[Finding]:
    """A claim on the tolerance as a whole that the case's worst toxicity grade belies: "gut vertragen" of a course
    with a grade 3 toxicity, "keine relevanten Nebenwirkungen" with grade 2 or more, "höhergradige Nebenwirkungen"
    with none above grade 2. The site's letters, and the template, choose the sentence by that grade; a model picks
    it. A case with a toxicity recorded without a grade is left alone (its worst is not known), and "gut vertragen"
    with grade 2 is a physician's judgment, not a contradiction."""
    if any(t.grade is None for t in case.toxicities):
        return
    worst = case.worst_grade
    for claim, words in claims_in(draft, belied_claims(worst)):
        yield Finding("contradicted", "tolerance", words, claim.label, (f"worst CTCAE grade {worst}",))


# --- intent ---------------------------------------------------------------------------------------------------------


def intent_findings(case: Case, draft: str) -> Iterator[Finding]:
    """An intent the case's recorded intent belies: "kurativ" of a palliative or supportive course, "palliativ" of a
    curative, adjuvant, neoadjuvant or definitive one. Words the case's own texts use are not claims of the letter's
    (a prior therapy "in kurativer Absicht" quoted), and an unknown intent is left alone."""
    intent = case.course.intent
    quoted = {c.label for c in INTENT_CLAIMS for text in case_texts(case) if c.said.search(text)}
    for claim, words in claims_in(draft, belied_claims(None, intent)):
        if claim.label not in quoted:
            yield Finding("contradicted", "intent", words, f"{claim.label} intent", (intent.value,))


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


# --- performance status ----------------------------------------------------------------------------------------------

_PS_NUMBER = re.compile(r"(?<![\d.,:/])(\d{1,3})(?![.,:]?\d)")  # not a part of "1,8" or "21.04."
_OTHER_SCALE = r"\bCTCAE\b|\bGrad\b|\bgrade\b"  # "ECOG 0, ... CTCAE Grad 1": the clause's 1 is a toxicity's grade


def performance_findings(case: Case, draft: str) -> Iterator[Finding]:
    """An ECOG (0-5) or Karnofsky (0-100 %) value the draft states after its scale's name, in the same clause, must
    be one the case holds on that scale ("ECOG 1", "ECOG-Performance-Status zu Beginn 1, bei Abschluss 2")."""
    held: dict[str, set[int]] = {"ECOG": set(), "Karnofsky": set()}
    for status in case.performance_status:
        held[status.scale].add(status.value)
    for word in PS_WORD.finditer(draft):
        scale = "ECOG" if word[0] == "ECOG" else "Karnofsky"
        line_end = draft.find("\n", word.end())
        clause = draft[word.end() : min(word.end() + 60, len(draft) if line_end < 0 else line_end)]
        clause = re.split(rf"\.\s|;|{PS_WORD.pattern}|{_OTHER_SCALE}", clause, maxsplit=1)[0]
        for m in _PS_NUMBER.finditer(clause):
            value = int(m[1])
            fits = value <= 5 if scale == "ECOG" else value <= 100 and value % 10 == 0
            if not fits or NOT_PS_AFTER.match(clause, m.end()) or value in held[scale]:
                continue
            expected = tuple(str(v) for v in sorted(held[scale]))
            stated = f"{scale} {value}"
            if expected:
                yield Finding("contradicted", "performance", stated, "performance status", expected)
            else:
                yield Finding("unsupported", "performance", stated, "performance status")


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


def _number(text: str) -> float:
    return float(text.replace(",", ".").replace(" ", ""))


def role_findings(case: Case, draft: str) -> Iterator[tuple[Finding, tuple[int, int]]]:
    """Date spans that end before they start, schemes whose n × d is not the total, sessions written as fractions;
    each with the stretch of the draft it covers."""
    anchor = case.course.end or case.course.start
    year = anchor.year if anchor else None
    for pattern in SPAN_RES:
        for m in pattern.finditer(draft):
            dates = [f.value for f in extract_facts(m[0], case.language, year) if f.kind == "date"]
            if len(dates) == 2 and dates[0] > dates[1]:
                value = f"{dates[0]} to {dates[1]}"
                yield Finding("contradicted", "role", value, "date span ends before it starts"), m.span()
    for m in SCHEME_RE.finditer(draft):
        n, single, total = int(m[1]), _number(m[2]), _number(m[3])
        if abs(n * single - total) > 0.02 * max(total, 1.0) + 0.01:
            value = f"{n} x {format_gy(single)} Gy to {format_gy(total)} Gy"
            yield Finding("contradicted", "role", value, "fractions x dose per fraction is not the total"), m.span()
    sessions = case.course.sessions
    counts = {f.value for f in case.facts() if f.kind == "fractions"}
    if sessions and str(sessions) not in counts:  # the session count backs "30 Sitzungen", not "30 Fraktionen"
        stated = re.search(rf"(?<![\d.,]){sessions}\s*(?:[x×]|Fraktion|fraction)", draft, re.IGNORECASE)
        if stated:
            finding = Finding("contradicted", "role", f"{sessions} fractions", "session count stated as fractions",
                              tuple(sorted(counts)))  # fmt: skip
            yield finding, stated.span()


# --- slots in the wrong role ------------------------------------------------------------------------------------------


def _context_label(roles: set[str]) -> str:
    if roles <= {"dose_planned", "fx_planned"}:
        what = "dose" if "dose_planned" in roles else "fractions"
        return f"planned {what} stated as delivered"
    if roles <= {"dose_total", "fx"}:
        return "delivered value stated as planned"
    if all(role.endswith("_start") for role in roles):
        return "start date where the end date belongs"
    if all(role.endswith("_end") for role in roles):
        return "end date where the start date belongs"
    return "value in the wrong role"


def slot_role_findings(case: Case, draft: str) -> Iterator[tuple[Finding, tuple[int, int]]]:
    """The words around each case value the draft states, read as its fact slot (the training data's aligner,
    ``rtletter.mappers.slots.delexicalise``): a value whose words give it a role that no slot of that value has.

    "bis 02.03.2026" where 02.03. is only the course start, a stopped course's planned dose without "geplant", a dose
    per fraction after "Gesamtdosis", a total dose after "Einzeldosis" or before "pro Fraktion". A value that the
    case holds in both roles (a one-day course, one fraction) is never a finding."""
    table = case_slots(case)
    result = delexicalise(draft, table, case.language)
    for mention in result.literal:
        if mention.reason != "context" or all(_as_planned(table, i) for i in mention.candidates):
            continue
        roles = {table[slot_id].role for slot_id in mention.candidates}
        finding = Finding("contradicted", "role", mention.text, _context_label(roles), tuple(sorted(roles)))
        yield finding, (mention.start, mention.end)
    for a in result.alignments:
        label = _wrong_role(table, table[a.slot_id], draft, a.start, a.end)
        if label:
            yield Finding("contradicted", "role", a.text, label, (table[a.slot_id].role,)), (a.start, a.end)


def _as_planned(table: SlotTable, slot_id: str) -> bool:
    """A delivered value that is its own plan: the case holds no other planned value for it (a course completed as
    planned), so "geplant: 35 Gy" or "die geplanten 28 Fraktionen" states it truly."""
    role, _, index = slot_id.partition(".")
    return role in PLAN_OF and f"{PLAN_OF[role]}.{index}" not in table


def _wrong_role(table: SlotTable, slot: Slot, draft: str, start: int, end: int) -> str | None:
    """What is wrong with a value the aligner gave to ``slot`` (its best guess) when its words call for another role
    that the case has only under another value."""
    same = {s.role for s in table if s.kind == slot.kind and s.value == slot.value}
    if slot.kind == "date":
        if diagnosis_date_due(draft[:start]) and "dx_date" not in same:  # "Prostate: ED 06.09.2021 bis 13,4 Gy"
            return 'date after "ED" that is not the date of diagnosis'
        date = date_cue(draft, start, end)
        if date == "end" and not any(r.endswith("_end") for r in same) and any(r.endswith("_start") for r in same):
            return "start date where the end date belongs"
        if date == "start" and not any(r.endswith("_start") for r in same) and any(r.endswith("_end") for r in same):
            return "end date where the start date belongs"
        return None
    if slot.kind != "dose":
        return None
    dose = dose_cue(draft, start, end)
    if slot.role == "dose_fx" and dose == "total" and not same & TOTAL_ROLES:
        return "dose per fraction stated as the total dose"
    if slot.role in TOTAL_ROLES and dose == "per_fraction" and "dose_fx" not in same:
        return "total dose stated as the dose per fraction"
    return None


def context_findings(case: Case, draft: str) -> list[Finding]:
    """Side, grade and role findings; a value inside a stretch that a span or scheme finding already covers is not
    counted again ("vom 08.04. bis 02.03." is one finding, not three)."""
    spans = list(role_findings(case, draft))
    covered = [where for _, where in spans]
    slots = [
        finding
        for finding, (start, end) in slot_role_findings(case, draft)
        if not any(s <= start and end <= e for s, e in covered)
    ]
    found = [*laterality_findings(case, draft), *grade_findings(case, draft), *performance_findings(case, draft),
             *status_findings(case, draft), *tolerance_findings(case, draft),
             *intent_findings(case, draft)]  # fmt: skip
    found += [*(f for f, _ in spans), *slots]
    return list(dict.fromkeys(found))
