from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtletter.model.evaluate.sections import STUDY_SECTIONS, check_sections

DATA = Path(__file__).parent / "data"

ENGLISH = """Dear Dr Weiss,

we are writing to update you on your patient, who completed radiotherapy from 2 March 2026 to 8 April 2026.

Diagnosis: adenocarcinoma of the rectum cT3 cN1 M0 (ICD-10 C20)
Treatment history: none.
Radiotherapy: 28 x 1.8 Gy to 50.4 Gy (VMAT, 6 MV) with concurrent capecitabine.
Course: the treatment was well tolerated; proctitis grade 1.
Recommendations: we recommend restaging MRI of the pelvis.
Follow-up: first visit on 20 May 2026.

Kind regards
"""


@pytest.fixture(scope="module")
def letter() -> str:
    return (DATA / "letter_rectum_de.txt").read_text(encoding="utf-8")


def test_reference_letter_is_complete(letter: str) -> None:
    report = check_sections(letter, "de")
    assert report.complete
    assert report.completeness == 1.0
    assert report.present["tolerance"] and report.present["closing"]


def test_draft_without_follow_up_is_incomplete(letter: str) -> None:
    draft = re.sub(r"Nachsorge:\n[^\n]*\n", "", letter)
    assert "Nachsorge" not in draft
    report = check_sections(draft, "de")
    assert not report.complete
    assert report.missing == ["follow_up"]
    assert report.completeness == pytest.approx(5 / 6)


def test_missing_sections_are_listed_in_letter_order(letter: str) -> None:
    salutation_only = "Sehr geehrter Herr Kollege Weiß,\nvielen Dank für die Zuweisung."
    report = check_sections(salutation_only, "de")
    assert report.missing == list(STUDY_SECTIONS[1:])
    assert report.completeness == pytest.approx(1 / 6)


def test_english_letter(letter: str) -> None:
    assert check_sections(ENGLISH, "en").complete
    assert check_sections(ENGLISH.replace("Dear Dr Weiss,", ""), "en").missing == ["salutation"]


def test_body_completeness_counts_the_six_written_sections_tolerance_included(letter: str) -> None:
    from rtletter.mappers.letter import split_letter
    from rtletter.model.evaluate.sections import BODY_SECTIONS

    body = split_letter(letter, "de").body
    assert check_sections(body, "de").share(BODY_SECTIONS) == 1.0
    assert check_sections(body, "de").completeness == pytest.approx(5 / 6)  # the study elements want a salutation
    no_course = re.sub(r"Verlauf:\n[^\n]*\n", "", body)
    assert check_sections(no_course, "de").share(BODY_SECTIONS) == pytest.approx(5 / 6)
    assert check_sections(ENGLISH, "en").share(BODY_SECTIONS) == 1.0
