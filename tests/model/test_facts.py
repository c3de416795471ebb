from __future__ import annotations

import pytest

from rtletter.mappers.case import Case, Fact
from rtletter.model.evaluate.facts import canonical, check_draft, check_facts, key_facts
from tests.factories import checked_case, checked_letter


@pytest.fixture(scope="module")
def case() -> Case:
    return checked_case()


@pytest.fixture(scope="module")
def letter() -> str:
    return checked_letter()


def _by_value(report) -> dict[str, str]:
    return {f.value: f.finding for f in report.findings}


def test_reference_letter_is_consistent(case: Case, letter: str) -> None:
    report = check_draft(case, letter)
    assert report.consistent
    assert report.omitted == ()
    assert report.checked >= 9  # dose, single dose, fractions, 5 dates, code, drug


def test_wrong_total_dose_is_contradicted_with_the_case_value(case: Case, letter: str) -> None:
    report = check_draft(case, letter.replace("bis 50,4 Gy", "bis 50,0 Gy"))
    assert [(f.finding, f.kind, f.value, f.expected) for f in report.findings] == [
        ("contradicted", "dose", "50", ("50.4",))
    ]
    assert report.contradicted == 1 and report.unsupported == 0
    assert [f.label for f in report.omitted] == ["total dose PTV Rektum und pelvine Lymphabflusswege"]


def test_invented_dose_date_and_drug_are_unsupported(case: Case, letter: str) -> None:
    draft = letter.replace(
        "Restaging mittels MRT",
        "Zusätzlich Boost mit 3 × 5 Gy und Cisplatin am 15.06.2026. Restaging mittels MRT",
    )
    findings = _by_value(check_draft(case, draft))
    assert findings == {"5": "unsupported", "3": "unsupported", "2026-06-15": "unsupported", "cisplatin": "unsupported"}


def test_date_near_a_case_date_and_code_of_same_category_are_contradicted(case: Case, letter: str) -> None:
    draft = letter.replace("bis 08.04.2026", "bis 09.04.2026").replace("ICD-10-GM C20", "ICD-10-GM C20.9")
    draft = draft.replace("28 × 1,8 Gy", "25 × 1,8 Gy")
    report = check_draft(case, draft)
    assert _by_value(report) == {
        "2026-04-09": "contradicted",
        "C20.9": "contradicted",
        "25": "contradicted",
        "25 x 1.8 Gy to 50.4 Gy": "contradicted",  # 25 × 1,8 Gy is not 50,4 Gy: the scheme itself is wrong
    }
    expected = {f.value: f.expected for f in report.findings}
    assert expected["25"] == ("28",)
    # 09.04. is within 14 days of the course end (08.04.) and of nothing else in the case
    assert expected["2026-04-09"] == ("2026-04-08",)


def test_other_icd_category_is_unsupported(case: Case) -> None:
    report = check_facts(case, [Fact(kind="code", value="C50.4", label="ICD-10 code")])
    assert _by_value(report) == {"C50.4": "unsupported"}


def test_repeated_statement_counts_once_and_letter_date_is_not_checked(case: Case) -> None:
    facts = [
        Fact(kind="dose", value="66", label="dose"),
        Fact(kind="dose", value="66", label="dose"),
        Fact(kind="date", value="2026-04-10", label="letter date"),
    ]
    report = check_facts(case, facts)
    assert report.unsupported == 1
    assert report.checked == 1


def test_draft_without_course_facts_lists_every_omission(case: Case) -> None:
    report = check_draft(case, "Sehr geehrter Herr Kollege, die Behandlung ist abgeschlossen.")
    assert report.consistent
    assert {(f.kind, f.value) for f in report.omitted} == {
        ("dose", "50.4"),
        ("dose", "1.8"),
        ("fractions", "28"),
        ("date", "2026-03-02"),
        ("date", "2026-04-08"),
    }
    assert {f.label for f in key_facts(case)} >= {"course start", "course end"}


def test_birth_date_in_the_header_is_supported_only_when_right(case: Case, letter: str) -> None:
    assert check_draft(case, letter).consistent
    wrong = check_draft(case, letter.replace("geb. 12.03.1956", "geb. 13.03.1956"))
    assert _by_value(wrong) == {"1956-03-13": "contradicted"}


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [("dose", "50,40", "50.4"), ("dose", "8.0", "8"), ("drug", "Capecitabine", "capecitabine"), ("code", "c20", "C20")],
)
def test_canonical_values(kind: str, raw: str, expected: str) -> None:
    assert canonical(kind, raw) == expected


@pytest.mark.parametrize("lang", ["de", "en"])
def test_synthetic_reference_letters_are_clean_and_swapped_ones_are_not(lang: str) -> None:
    # The checker must not flag the cohort's own letters (they state only facts of their case), and must flag a
    # letter paired with another patient's case.
    from rtletter.demo.synth.generate import generate_cohort
    from rtletter.model.evaluate.sections import check_sections

    patients = generate_cohort(24, 11, lang)
    for patient in patients:
        report = check_draft(patient.case, patient.letter)
        assert report.findings == () and report.omitted == (), patient.entity
        assert check_sections(patient.letter, lang).complete, patient.entity
    swapped = [check_draft(patients[i].case, patients[(i + 1) % len(patients)].letter) for i in range(len(patients))]
    assert all(not r.consistent for r in swapped)


def test_drugs_match_by_inn_german_english_and_atc(case: Case, letter: str) -> None:
    """The case says "Capecitabin" (German, as an HL7 v2 or German FHIR source sends it): a letter naming it in either
    language or by its ATC code is backed; another drug is not."""
    german = case.model_copy(deep=True)
    german.course.concurrent_therapy[0].agents = ["Capecitabin"]
    for spelling in ("Capecitabin", "capecitabine", "Xeloda", "L01BC06"):
        draft = letter + f"\nSimultan: {spelling}.\n"
        assert not [f for f in check_draft(german, draft).findings if f.kind == "drug"], spelling
    coded = case.model_copy(deep=True)
    coded.course.concurrent_therapy[0].agents = ["L01BC06"]  # a source that sends only the ATC code
    assert not [f for f in check_draft(coded, letter).findings if f.kind == "drug"]
    findings = check_draft(german, letter.replace("Capecitabin", "Cisplatin"))
    assert [(f.finding, f.kind, f.value) for f in findings.findings] == [("unsupported", "drug", "cisplatin")]


def test_wrong_side_grade_and_swapped_roles_are_contradicted(case: Case) -> None:
    from rtletter.mappers.template_letter import render_letter

    sided = case.model_copy(deep=True)
    sided.diagnoses[0].laterality = "left"
    clean = render_letter(sided)
    assert check_draft(sided, clean).findings == ()
    kinds = {
        "laterality": clean.replace(" links", " rechts", 1),
        "grade": clean.replace("(CTCAE Grad 2)", "(CTCAE Grad 3)"),
        "role": clean.replace("vom 02.03.2026 bis 08.04.2026", "vom 08.04.2026 bis 02.03.2026", 1),
    }
    for kind, draft in kinds.items():
        assert draft != clean
        assert [f.kind for f in check_draft(sided, draft).findings if f.finding == "contradicted"] == [kind], kind
    swapped = clean.replace("28 × 1,8 Gy bis 50,4 Gy", "28 × 50,4 Gy bis 1,8 Gy")
    assert [f.label for f in check_draft(sided, swapped).findings] == ["fractions x dose per fraction is not the total"]


@pytest.mark.parametrize(
    ("added", "label"),
    [
        ("Die Bestrahlung wurde am 02.03.2026 beendet.", "start date where the end date belongs"),
        ("Die Bestrahlung wurde am 02.03.2026 wie geplant abgeschlossen.", "start date where the end date belongs"),
        ("Radiotherapy was completed as planned on 02.03.2026.", "start date where the end date belongs"),
        ("Bestrahlung seit 08.04.2026.", "end date where the start date belongs"),
        ("Gesamtdosis 1,8 Gy.", "dose per fraction stated as the total dose"),
        ("Einzeldosis 50,4 Gy.", "total dose stated as the dose per fraction"),
        ("Es wurden 50,4 Gy pro Fraktion appliziert.", "total dose stated as the dose per fraction"),
        ("Rektum: ED 02.03.2026 bis 50,4 Gy.", 'date after "ED" that is not the date of diagnosis'),
    ],
)
def test_a_value_in_the_words_of_another_role_is_contradicted(case: Case, added: str, label: str) -> None:
    """The check reads the words around each value as its fact slot: the value is the case's, its role is not."""
    from rtletter.mappers.template_letter import render_letter

    clean = render_letter(case)
    assert check_draft(case, clean).findings == ()
    findings = check_draft(case, f"{clean}\n{added}\n").findings
    assert [(f.finding, f.kind, f.label) for f in findings] == [("contradicted", "role", label)]


def test_the_date_of_diagnosis_after_ed_is_no_finding(case: Case) -> None:
    from rtletter.mappers.template_letter import render_letter

    assert case.diagnoses[0].diagnosis_date is not None
    added = f"Rektum: ED {case.diagnoses[0].diagnosis_date:%d.%m.%Y}."
    assert [f for f in check_draft(case, f"{render_letter(case)}\n{added}\n").findings if f.kind == "role"] == []


def test_a_value_the_case_holds_in_both_roles_is_not_a_role_finding(case: Case) -> None:
    """One fraction of 8 Gy: 8 Gy is the total and the dose per fraction, so "Einzeldosis 8 Gy" and "Gesamtdosis 8 Gy"
    are both right; the same for a one-day course's start and end."""
    from rtletter.mappers.template_letter import render_letter

    single = case.model_copy(deep=True)
    course, volume = single.course, single.course.volumes[0]
    volume.total_dose_gy = volume.planned_total_dose_gy = volume.dose_per_fraction_gy = 8
    volume.fractions_delivered = volume.fractions_planned = 1
    course.end = course.start
    clean = render_letter(single)
    assert check_draft(single, clean).findings == ()
    added = "Einzeldosis 8 Gy, Gesamtdosis 8 Gy, Bestrahlung am 02.03.2026 beendet, seit 02.03.2026."
    assert [f for f in check_draft(single, f"{clean}\n{added}\n").findings if f.kind == "role"] == []


def test_a_stopped_course_planned_dose_needs_its_word(case: Case) -> None:
    from rtletter.mappers.case import CourseStatus

    stopped = case.model_copy(deep=True)
    stopped.course.status = CourseStatus.stopped
    volume = stopped.course.volumes[0]
    volume.total_dose_gy, volume.fractions_delivered = 36.0, 20
    text = "PTV Rektum: 20 × 1,8 Gy bis 36 Gy, geplant 50,4 Gy."
    assert [f for f in check_draft(stopped, text).findings if f.kind == "role"] == []
    wrong = [f for f in check_draft(stopped, "PTV Rektum: 28 × 1,8 Gy bis 50,4 Gy.").findings if f.kind == "role"]
    assert [f.label for f in wrong] == ["planned fractions stated as delivered", "planned dose stated as delivered"]


@pytest.mark.parametrize(
    ("added", "found"),
    [
        ("Der Allgemeinzustand war stabil (ECOG 1).", []),  # the case's ECOG
        ("ECOG-Performance-Status zu Beginn 1, bei Abschluss 1.", []),
        ("Der Allgemeinzustand war stabil (ECOG 3).", [("contradicted", "ECOG 3")]),
        ("ECOG-Performance-Status zu Beginn 1, bei Abschluss 4.", [("contradicted", "ECOG 4")]),
        ("ECOG 1 am 02.03.2026, 28 Fraktionen.", []),  # a date and a fraction count in the clause are no status
        ("ECOG 1, Dermatitis am 15.09.2025 CTCAE Grad 3.", []),  # a toxicity's grade in the clause is no status
        ("ECOG 1, dann ECOG 2, Dermatitis Grad 3.", [("contradicted", "ECOG 2")]),
        ("Karnofsky-Index 70 %.", [("unsupported", "Karnofsky 70")]),  # the case holds no Karnofsky value
    ],
)
def test_a_performance_status_the_case_does_not_hold_is_a_finding(case: Case, added: str, found: list) -> None:
    from rtletter.mappers.case import PerformanceStatus
    from rtletter.mappers.template_letter import render_letter

    rated = case.model_copy(update={"performance_status": [PerformanceStatus(scale="ECOG", value=1)]})
    clean = render_letter(rated)
    assert "ECOG 1" in clean and check_draft(rated, clean).findings == ()
    findings = check_draft(rated, f"{clean}\n{added}\n").findings
    assert [(f.finding, f.value) for f in findings if f.kind == "performance"] == found


def test_a_course_completed_as_planned_may_call_its_values_planned(case: Case) -> None:
    """Without other planned values the delivered ones are the plan: "die geplanten 28 Fraktionen" is true. In a
    stopped course the delivered dose called planned is not."""
    from rtletter.mappers.case import CourseStatus
    from rtletter.mappers.template_letter import render_letter

    done = case.model_copy(deep=True)
    done.course.volumes[0].planned_total_dose_gy = done.course.volumes[0].fractions_planned = None
    clean = render_letter(done)
    assert check_draft(done, clean).findings == ()
    added = "Die geplanten 28 Fraktionen (geplant: 50,4 Gy) wurden vollständig appliziert."
    assert check_draft(done, f"{clean}\n{added}\n").findings == ()
    stopped = case.model_copy(deep=True)
    stopped.course.status = CourseStatus.stopped
    volume = stopped.course.volumes[0]
    volume.total_dose_gy, volume.fractions_delivered = 36.0, 20
    wrong = check_draft(stopped, "PTV Rektum: 20 × 1,8 Gy (geplant: 36 Gy).").findings
    assert [(f.kind, f.label) for f in wrong] == [("role", "delivered value stated as planned")]


@pytest.mark.parametrize(
    ("added", "status", "found"),
    [
        ("Die Bestrahlung wurde nach 4 von 4 geplanten Fraktionen vorzeitig beendet.", "completed", True),
        ("Radiotherapy was stopped early on 08.04.2026.", "completed", True),
        ("Die Bestrahlung wurde nach 20 Fraktionen vorzeitig beendet.", "stopped", False),
        ("Die Bestrahlung wurde planmäßig abgeschlossen.", "completed", False),
        # the other way round: a stopped course written as completed (letter-domain: never)
        ("Die Bestrahlung wurde am 08.04.2026 wie geplant abgeschlossen.", "stopped", True),
        ("Radiotherapy was completed as planned on 08.04.2026.", "stopped", True),
        ("Die Bestrahlung wurde planmäßig abgeschlossen.", "in-progress", False),  # unconfirmed: not a stop
    ],
)
def test_a_wrong_end_of_the_course_is_contradicted(case: Case, added: str, status: str, found: bool) -> None:
    """XRTS-03, a completed course, was drafted with a stopped course's sentence: every value in it from the case."""
    from rtletter.mappers.case import CourseStatus

    drafted = case.model_copy(deep=True)
    drafted.course.status = CourseStatus(status)
    findings = [f for f in check_draft(drafted, added).findings if f.kind == "status"]
    assert [f.finding for f in findings] == (["contradicted"] if found else [])


@pytest.mark.parametrize(
    ("letter", "status", "left_out"),
    [
        ("PTV Rektum: 20 × 1,8 Gy bis 36 Gy, 02.03. - 27.03.2026.", "stopped", True),
        ("Die Bestrahlung wurde am 27.03.2026 vorzeitig beendet.", "stopped", False),
        ("Radiotherapy was stopped early on 27.03.2026.", "stopped", False),
        ("PTV Rektum: 28 × 1,8 Gy bis 50,4 Gy, 02.03. - 08.04.2026.", "completed", False),
        ("PTV Rektum: 20 × 1,8 Gy bis 36 Gy.", "in-progress", False),  # unconfirmed: no stop to state
    ],
)
def test_a_stop_the_draft_does_not_state_is_an_omission(case: Case, letter: str, status: str, left_out: bool) -> None:
    """A stopped course's letter that gives its doses and dates and not the stop reads as a course given in full: no
    value in it is wrong, so it is no finding, and the reviewer is told of it with the key facts left out."""
    from rtletter.mappers.case import CourseStatus

    drafted = case.model_copy(deep=True)
    drafted.course.status = CourseStatus(status)
    report = check_draft(drafted, letter)
    assert [f.kind for f in report.omitted if f.kind == "status"] == (["status"] if left_out else [])
    assert [f for f in report.findings if f.kind == "status"] == []


def test_a_phase_stopped_for_a_new_plan_may_be_called_stopped(case: Case) -> None:
    from rtletter.mappers.case import CourseStatus, Phase

    replanned = case.model_copy(deep=True)
    replanned.course.phases = [Phase(name="Serie 1", status=CourseStatus.stopped), Phase(name="Serie 2")]
    text = "Die Serie wurde nach 3 von 7 geplanten Fraktionen vorzeitig beendet und neu geplant."
    assert [f for f in check_draft(replanned, text).findings if f.kind == "status"] == []
    assert [f for f in check_draft(case, text).findings if f.kind == "status"] != []


@pytest.mark.parametrize(
    ("said", "grades", "found"),
    [
        ("Die Behandlung wurde gut vertragen.", (1, 3), True),
        ("Treatment was tolerated very well.", (3,), True),
        ("Die Bestrahlung war insgesamt gut verträglich.", (3,), True),  # the same claim in other words
        ("Die Behandlung wurde gut vertragen.", (2,), False),  # a physician's judgment at grade 2
        ("Relevante Akutnebenwirkungen traten nicht auf.", (2,), True),
        ("Nebenwirkungen über CTCAE Grad 1 wurden nicht beobachtet.", (1,), False),
        ("Die Therapie war durch höhergradige Nebenwirkungen belastet.", (1,), True),
        ("Die Therapie war durch höhergradige Nebenwirkungen belastet.", (3,), False),
        ("Es traten keine höhergradigen Nebenwirkungen auf.", (), False),  # negated
        ("Treatment was complicated by grade 3 side effects.", (), True),
        ("Die Therapie wurde gut vertragen und war nicht unterbrochen.", (3,), True),  # "nicht" of another clause
        ("Die Behandlung wurde gut vertragen.", (3, None), False),  # a toxicity without a grade: worst not known
    ],
)
def test_a_tolerance_the_worst_grade_belies_is_contradicted(
    case: Case, said: str, grades: tuple[int | None, ...], found: bool
) -> None:
    """The site's letters choose the tolerance sentence by the worst CTCAE grade; a model picks one."""
    from rtletter.mappers.case import Toxicity

    drafted = case.model_copy(deep=True)
    drafted.toxicities = [Toxicity(term=term, grade=grade) for term, grade in zip(("Diarrhea", "Fatigue"), grades)]
    findings = [f for f in check_draft(drafted, said).findings if f.kind == "tolerance"]
    assert [f.finding for f in findings] == (["contradicted"] if found else [])


@pytest.mark.parametrize(
    ("said", "intent", "name", "found"),
    [
        ("Palliative Radiatio der LWS in kurativer Intention.", "palliative", None, True),
        ("Radiatio in supportiver Intention, kurativ.", "supportive", None, True),
        ("Radiatio in palliativer Intention.", "adjuvant", None, True),
        ("Radiotherapy with palliative intent.", "definitive", None, True),
        ("Radiatio in palliativer Intention.", "palliative", None, False),
        ("Radiatio in kurativer Intention.", "neoadjuvant", None, False),  # neoadjuvant is curative in intent
        ("Radiatio in kurativer Intention.", "unknown", None, False),  # nothing recorded: nothing belied
        ("Es besteht keine kurative Option.", "palliative", None, False),  # negated
        ("Eine kurative Option besteht nicht mehr.", "palliative", None, False),  # negated after the word
        ("A curative treatment is no longer possible.", "palliative", None, False),
        ("Radiatio in kurativer Intention und war nicht unterbrochen.", "palliative", None, True),  # another clause
        ("Palliative Radiatio nach Protokoll.", "curative", "palliative Radiatio nach Protokoll", False),  # quoted
        ("Strahlentherapie in neoadjuvanter Intention.", "palliative", None, True),  # curative in kind
        ("Therapieintention: adjuvant.", "neoadjuvant", None, True),  # before the operation, not after
        ("Radiotherapy with definitive intent.", "adjuvant", None, True),
        ("Radiatio in definitiver Intention.", "definitive", None, False),
        ("Z. n. Mastektomie und adjuvanter Chemotherapie.", "palliative", None, False),  # history, not the intent
    ],
)
def test_an_intent_the_case_belies_is_contradicted(
    case: Case, said: str, intent: str, name: str | None, found: bool
) -> None:
    """The stand-in wrote "Palliative analgetische Einzeitbestrahlung ... in kurativer Intention"."""
    from rtletter.mappers.case import Intent

    drafted = case.model_copy(deep=True)
    drafted.course.intent = Intent(intent)
    drafted.course.name = name
    findings = [f for f in check_draft(drafted, said).findings if f.kind == "intent"]
    assert [f.finding for f in findings] == (["contradicted"] if found else [])
