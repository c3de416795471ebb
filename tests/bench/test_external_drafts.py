"""bench/external_drafts.py: every external radiotherapy course is found, and its check tells a correct letter (the
template's) from a wrong one. The model rows need a trained base (``make demo``); these checks need none."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench import load_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "external_drafts.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench(BENCH)


@pytest.fixture(scope="module")
def template_letters(bench: ModuleType) -> list[tuple[object, str]]:
    from rtletter.model.backends.template import TemplateBackend

    courses, _ = bench.external_courses()
    drafted, redrafted, posted, _ = bench.draft_all(TemplateBackend(scaffold=True), courses, scaffold_body=True,
                                                    redraft=8)  # fmt: skip
    assert posted == redrafted == drafted  # the template backend writes one letter per case: nothing to redraft
    return [(case, letter) for (_, case), (_, letter, _) in zip(courses, drafted, strict=True)]


def test_every_external_course_is_found_and_the_v2_samples_hold_none(bench: ModuleType) -> None:
    courses, without = bench.external_courses()
    assert len(courses) == 10  # XRTS-01..07 (05 has two courses) and the two mCODE summaries
    assert {stem for stem, _ in courses} == {p.stem for p in (bench.EXTERNAL / "fhir").glob("*.json")}
    assert len(without) == len(list((bench.EXTERNAL / "hl7v2").iterdir()))


def test_the_template_letter_of_every_course_is_correct(bench: ModuleType, template_letters: list) -> None:
    for case, letter in template_letters:
        checked = bench.check("template", case, letter, ended=True)
        assert checked.correct, checked
        assert checked.stated == checked.key_facts > 0


def test_a_wrong_dose_a_missing_date_and_prompt_text_are_each_caught(bench: ModuleType, template_letters: list) -> None:
    case, letter = next((c, t) for c, t in template_letters if "XRTS-04" in c.case_id)
    wrong = letter.replace("17 Gy", "19 Gy")
    assert wrong != letter
    checked = bench.check("x", case, wrong, ended=True)
    assert checked.contradicted + checked.unsupported >= 1 and checked.stated < checked.key_facts
    assert not checked.correct
    end = case.course.end.strftime("%d.%m.%Y")
    assert end in letter
    dropped = bench.check("x", case, re.sub(re.escape(end), "", letter), ended=True)
    assert dropped.stated < dropped.key_facts and not dropped.correct
    leaked = bench.check("x", case, letter + "\nSchreiben Sie jetzt den Brief.\n", ended=True)
    assert leaked.leak and not leaked.correct


def test_a_letter_that_starts_its_sections_over_is_not_correct(bench: ModuleType, template_letters: list) -> None:
    """Every key fact stated, nothing unsupported, and still no letter: the body written twice, as a looping draft
    does."""
    from rtletter.mappers.letter import MAX_BODY_HEADINGS, split_letter

    case, letter = template_letters[0]
    head, body, tail = split_letter(letter)
    once = bench.check("x", case, letter, ended=True)
    assert once.well_formed and 5 <= once.headings <= MAX_BODY_HEADINGS and once.repeats == 1
    twice = bench.check("x", case, head + body + body + body + tail, ended=True)
    assert twice.stated == twice.key_facts and not twice.contradicted and not twice.unsupported
    assert not twice.well_formed and not twice.correct


def test_non_words_are_body_words_neither_the_site_nor_the_case_knows(
    bench: ModuleType, template_letters: list, tmp_path: Path
) -> None:
    import json

    from rtletter.mappers.letter import split_letter
    from rtletter.model.vocabulary import WORD, non_words

    case, letter = next((c, t) for c, t in template_letters if "XRTS-04" in c.case_id)
    body = split_letter(letter).body
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"completion": [{"role": "assistant", "content": body}]}) + "\n", encoding="utf-8")
    known = bench.train_words(train)  # for an adapter without its word list
    assert non_words(case, letter, known) == []
    garbled = letter.replace("Verlauf", "Verlauf Bildgebjährlich", 1)
    assert garbled != letter
    assert non_words(case, garbled, known) == ["Bildgebjährlich"]
    assert bench.check("x", case, garbled, ended=True, known=known).non_words == 1
    # the case's own words (its diagnosis text, as the prompt gives it) are no non-words, whatever the site knows
    unknown = non_words(case, letter, frozenset())
    dx = case.diagnoses[0]
    diagnosis = WORD.findall(dx.text or (dx.code.display if dx.code else "") or "")
    assert diagnosis and "Bestrahlungszeitraum" in unknown and not set(diagnosis) & set(unknown)
