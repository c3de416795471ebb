"""The letter templates: complete, fact-check-clean letters for a cohort in both languages; a stopped course."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtletter.demo.synth.generate import synthesize
from rtletter.mappers.case import Case
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.letter import find_sections
from rtletter.mappers.template_letter import render_letter
from rtletter.model.evaluate.facts import check_draft

DATA = Path(__file__).parents[1] / "model" / "data"


@pytest.fixture(scope="module")
def rectum() -> Case:
    return Case.model_validate_json((DATA / "case_rectum.json").read_bytes())


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cohort_letters_are_complete_and_fact_check_clean(lang: str) -> None:
    for synthetic in synthesize(12, 3, lang):
        text = render_letter(synthetic.case)
        assert leaked_prompt(text) is None
        assert check_draft(synthetic.case, text).findings == ()
        assert all(find_sections(text, lang).values()), text
    assert "Dear " in text if lang == "en" else "Sehr geehrte" in text or "Liebe" in text


def test_a_stopped_course_states_delivered_and_planned(rectum: Case) -> None:
    stopped = rectum.model_copy(deep=True)
    stopped.course.status = "stopped"
    volume = stopped.course.volumes[0]
    volume.fractions_planned, volume.planned_total_dose_gy = 28, 50.4
    volume.fractions_delivered, volume.total_dose_gy = 17, 30.6
    text = render_letter(stopped)
    assert "17 × 1,8 Gy bis 30,6 Gy (geplant: 28 × 1,8 Gy bis 50,4 Gy)" in text
    assert "nach 17 von 28 geplanten Fraktionen vorzeitig beendet" in text
    assert check_draft(stopped, text).findings == ()
