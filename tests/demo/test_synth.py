"""The synthetic cohort: determinism, entities and regimens, special cases, and letters that state only case facts."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta

import pytest

from rtletter.demo.synth import ENTITIES, SyntheticCase, synthesize
from rtletter.demo.synth.generate import add_working_days, fraction_dates
from rtletter.mappers.case import Case, CourseStatus, Intent, format_gy
from rtletter.mappers.letter import SECTIONS, extract_facts, find_sections

N = 140  # ten per entity: enough for every special case at the cohort's rates with these seeds


@pytest.fixture(scope="module", params=["de", "en"])
def cohort(request: pytest.FixtureRequest) -> list[SyntheticCase]:
    return synthesize(N, seed=7, lang=request.param)


def _dump(items: list[SyntheticCase]) -> list[tuple[str, str]]:
    return [(i.case.model_dump_json(), i.letter) for i in items]


def test_synthesize_is_deterministic_and_seed_dependent() -> None:
    first, again = synthesize(30, seed=3), synthesize(30, seed=3)
    assert _dump(first) == _dump(again)
    other = synthesize(30, seed=4)
    assert [i.letter for i in other] != [i.letter for i in first]
    # a smaller cohort is the prefix of a larger one
    assert _dump(synthesize(10, seed=3)) == _dump(first[:10])


def test_every_entity_appears_once_n_reaches_the_entity_count() -> None:
    items = synthesize(len(ENTITIES), seed=11)
    assert {i.entity for i in items} == set(ENTITIES)
    assert len(ENTITIES) >= 14


def test_a_prostate_primary_is_a_man_s_and_a_breast_primary_a_woman_s() -> None:
    # Bone and brain metastases name their primary; the patient's sex follows it, and so does the letter's "Frau".
    items = [i for i in synthesize(600, seed=7) if i.entity in ("bone_mets", "brain_mets")]
    sex_of = {"C61": "male", "C50.9": "female"}
    seen = Counter()
    for item in items:
        codes = {d.code.code for d in item.case.diagnoses if d.code is not None}
        for code, sex in sex_of.items():
            if code in codes:
                seen[code] += 1
                assert item.case.patient.sex == sex, (item.case.patient.id, code)
                title = "Frau" if sex == "female" else "Herr"
                assert f"{title} {item.case.patient.given} {item.case.patient.family}" in item.letter
    assert seen["C61"] >= 3 and seen["C50.9"] >= 3


def test_regimen_arithmetic_total_is_fractions_times_dose() -> None:
    for entity in ENTITIES.values():
        for regimen in entity.regimens:
            for volume in regimen.volumes:
                assert volume.total == pytest.approx(volume.dose_per_fraction * volume.fractions)


def test_case_doses_are_delivered_fractions_times_dose_per_fraction(cohort: list[SyntheticCase]) -> None:
    for item in cohort:
        course = item.case.course
        if "plan_change" in item.features:  # the course total has no one dose per fraction: it is its phases' sum
            (total,) = course.volumes
            phased = [v for phase in course.phases for v in phase.volumes]
            assert total.dose_per_fraction_gy is None and len({v.dose_per_fraction_gy for v in phased}) == 2
            assert total.total_dose_gy == pytest.approx(sum(v.total_dose_gy or 0 for v in phased))
            assert total.fractions_delivered == sum(v.fractions_delivered or 0 for v in phased)
        for volume in [v for phase in course.phases for v in phase.volumes] if course.phases else course.volumes:
            assert volume.total_dose_gy == pytest.approx(volume.fractions_delivered * volume.dose_per_fraction_gy)
            if volume.fractions_planned is not None:
                assert volume.planned_total_dose_gy == pytest.approx(
                    volume.fractions_planned * volume.dose_per_fraction_gy
                )
        brachy = item.case.course.brachytherapy
        if brachy is not None:
            assert brachy.total_dose_gy == pytest.approx(brachy.fractions * brachy.dose_per_fraction_gy)


def test_known_regimens_are_in_the_cohort() -> None:
    items = synthesize(400, seed=5)
    schedules = {(v.fractions_delivered, v.dose_per_fraction_gy) for i in items for v in i.case.course.volumes}
    for fractions, dose in [(15, 2.67), (25, 2.0), (5, 5.2), (20, 3.0), (39, 2.0), (28, 1.8), (5, 5.0), (35, 2.0),
                            (30, 2.0), (3, 15.0), (33, 2.0), (1, 20.0), (5, 6.0), (10, 3.0), (1, 8.0), (5, 4.0),
                            (23, 1.8), (4, 7.0), (20, 2.5), (20, 2.75)]:  # fmt: skip
        assert (fractions, dose) in schedules, (fractions, dose)
    drugs = {a for i in items for t in i.case.course.concurrent_therapy for a in t.agents}
    assert {"capecitabine", "cisplatin", "temozolomide", "carboplatin", "paclitaxel", "mitomycin"} <= drugs
    assert "durvalumab" in {a for i in items for t in i.case.systemic_therapies for a in t.agents}


def test_fractions_fall_on_working_days_and_interruptions_push_the_end() -> None:
    dates = fraction_dates(date(2026, 3, 2), 28)
    assert all(d.weekday() < 5 for d in dates)
    assert dates[-1] == date(2026, 4, 8)  # Monday 2 March + 28 working days, the letter-domain example
    pushed = fraction_dates(date(2026, 3, 2), 28, skip_after=10, skip=3)
    assert pushed[-1] == add_working_days(date(2026, 4, 8), 3)
    assert fraction_dates(date(2026, 3, 7), 1) == [date(2026, 3, 9)]  # a Saturday start moves to Monday


def test_daily_courses_count_their_working_days(cohort: list[SyntheticCase]) -> None:
    checked = 0
    for item in cohort:
        course = item.case.course
        if course.phases or any(r for r in ("sbrt", "fsrt") if r in item.regimen) or course.start == course.end:
            continue
        assert course.start is not None and course.end is not None
        days = sum(1 for k in range((course.end - course.start).days + 1)
                   if (course.start + timedelta(days=k)).weekday() < 5)  # fmt: skip
        skipped = sum(i.days or 0 for i in item.case.interruptions)
        assert days == course.sessions + skipped
        checked += 1
    assert checked > 50


def test_special_cases_are_present(cohort: list[SyntheticCase]) -> None:
    features = Counter(f for i in cohort for f in i.features)
    for name in ("stopped", "interrupted", "grade3", "no_referrer", "no_histology", "no_tnm", "reirradiation",
                 "several_volumes", "boost", "sparse_record", "plan_change"):  # fmt: skip
        assert features[name] > 0, name
    assert any(t.grade == 3 for i in cohort for t in i.case.toxicities)
    assert any(i.case.referring_physician is None for i in cohort)


def test_sparse_records_hold_only_the_course_and_their_letters_claim_nothing_else(
    cohort: list[SyntheticCase],
) -> None:
    """Another system's record (the CodeX examples' shape): the letter says what is not recorded, never "well
    tolerated", "no previous treatment" or a booked appointment."""
    sparse = [i for i in cohort if "sparse_record" in i.features]
    assert sparse
    for item in sparse:
        case = item.case
        assert not (case.toxicities or case.performance_status or case.surgeries or case.systemic_therapies)
        assert not (case.follow_up.appointments or case.follow_up.recommendations or case.referring_physician)
        assert case.course.phases and not case.course.energy
        assert all(dx.code is not None and dx.tnm is None and dx.histology is None for dx in case.diagnoses)
        body = item.letter.lower()
        for claim in (
            "gut vertragen",
            "well tolerated",
            "keine onkologischen vortherapien",
            "no previous oncological",
            "schriftlich",
            "by post",
            "ecog",
            "histologische sicherung",
            "histological confirmation",
        ):
            assert claim not in body, (item.patient_id, claim)
        assert ("keine angaben" in body or "nicht vor" in body) if case.language == "de" else "not recorded" in body


def test_a_course_of_unknown_intent_is_written_without_one() -> None:
    from rtletter.demo.synth.generate import build_case
    from rtletter.demo.synth.letters import render_letter

    for index in range(28):
        case, plan = build_case(7, index, "de" if index % 2 else "en")
        unknown = case.model_copy(update={"course": case.course.model_copy(update={"intent": Intent.unknown})})
        letter = render_letter(unknown, plan, random.Random(index))
        assert not re.search(r"Intention|\bintent\b|Intent:", letter), (index, letter)


def test_stopped_courses_say_delivered_and_planned_and_never_completed(cohort: list[SyntheticCase]) -> None:
    stopped = [i for i in cohort if i.case.course.status is CourseStatus.stopped]
    assert stopped
    for item in stopped:
        course = item.case.course
        assert course.status_reason is not None
        partial = [v for v in course.volumes if v.fractions_planned]
        assert partial and all(v.fractions_delivered < v.fractions_planned for v in partial)
        text = item.letter.lower()
        assert "abgeschlossene strahlentherapie" not in text and "completed radiotherapy" not in text
        assert ("vorzeitig" in text) or ("stopped early" in text)
        facts = {(f.kind, f.value) for f in extract_facts(item.letter, item.case.language)}
        assert ("fractions", str(partial[0].fractions_planned)) in facts


def test_letters_have_every_section(cohort: list[SyntheticCase]) -> None:
    for item in cohort:
        assert find_sections(item.letter, item.case.language) == dict.fromkeys(SECTIONS, True), item.patient_id


def _allowed(case: Case) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in case.facts()}


def test_letters_state_only_facts_of_their_case(cohort: list[SyntheticCase]) -> None:
    for item in cohort:
        allowed = _allowed(item.case)
        for fact in extract_facts(item.letter, item.case.language):
            if fact.label == "birth date":
                assert item.case.patient.birth_date is not None
                assert fact.value == item.case.patient.birth_date.isoformat()
            elif fact.label == "letter date":
                assert fact.value == item.letter_date.isoformat()
                assert item.case.course.end is not None and item.letter_date > item.case.course.end
            else:
                assert (fact.kind, fact.value) in allowed, (item.patient_id, fact)


def test_letters_state_every_dose_fraction_count_and_course_date(cohort: list[SyntheticCase]) -> None:
    for item in cohort:
        course = item.case.course
        stated = {(f.kind, f.value) for f in extract_facts(item.letter, item.case.language)}
        assert course.start is not None and course.end is not None
        needed = {("date", course.start.isoformat()), ("date", course.end.isoformat())}
        for volume in [*course.volumes, *(v for phase in course.phases for v in phase.volumes)]:
            assert volume.total_dose_gy is not None
            needed |= {("dose", format_gy(volume.total_dose_gy)), ("fractions", str(volume.fractions_delivered))}
            if volume.dose_per_fraction_gy is not None:  # none on a re-planned course's total
                needed.add(("dose", format_gy(volume.dose_per_fraction_gy)))
            else:
                assert "plan_change" in item.features
        for phase in course.phases:
            needed |= {("date", d.isoformat()) for d in (phase.start, phase.end) if d}
        for therapy in course.concurrent_therapy:
            needed |= {("drug", agent) for agent in therapy.agents}
        for appointment in item.case.follow_up.appointments:
            needed.add(("date", appointment.when.isoformat()[:10]))
        assert needed <= stated, (item.patient_id, needed - stated)


def _opening(letter: str) -> str:
    """The opening sentence after the salutation, with names, digits and dates masked."""
    body = re.split(r"\n(?:Sehr geehrte|Liebe|Lieber|Dear)[^\n]*,\n\n", letter, maxsplit=1)[1]
    sentence = re.split(r"(?<=[.;])\s", body, maxsplit=1)[0]
    sentence = re.sub(r"\d+", "#", sentence)
    sentence = re.sub(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b",
                      "M", sentence)  # fmt: skip
    return re.sub(r"(Frau|Herrn?|Mrs|Mr) (\S+ )+?(?=\S*[,.;]|befand|was|to|and|who)", r"\1 NAME ", sentence)


def test_letters_vary_in_wording(cohort: list[SyntheticCase]) -> None:
    openings = Counter(_opening(i.letter) for i in cohort)
    assert openings.most_common(1)[0][1] < 0.3 * len(cohort), openings.most_common(3)
    assert len({i.style for i in cohort}) >= 3
    headings = Counter(line for i in cohort for line in i.letter.splitlines() if line.endswith(":") and len(line) < 40)
    assert len(headings) >= 15


def test_german_letters_keep_umlauts_and_decimal_commas() -> None:
    items = synthesize(40, seed=9, lang="de")
    text = "\n".join(i.letter for i in items)
    assert "ü" in text and "ä" in text and "ß" in text and "Ö" in text
    assert "Ã" not in text  # no mojibake
    assert re.search(r"\d+,\d+ Gy", text) and not re.search(r"\d+\.\d+ Gy", text)
    assert re.search(r"\b\d{2}\.\d{2}\.\d{4}\b", text)


def test_english_letters_are_english() -> None:
    items = synthesize(28, seed=9, lang="en")
    for item in items:
        assert item.case.language == "en"
        assert " bis " not in item.letter and "Sehr geehrte" not in item.letter
        assert not re.search(r"\d+,\d+ Gy", item.letter)


def test_cases_validate_and_round_trip_as_json(cohort: list[SyntheticCase]) -> None:
    for item in cohort:
        assert item.case.source_kind == "synthetic"
        again = Case.model_validate_json(item.case.model_dump_json())
        assert again == item.case
        assert again.facts() == item.case.facts()


def test_synthesize_rejects_unknown_language() -> None:
    with pytest.raises(ValueError):
        synthesize(1, seed=1, lang="fr")
