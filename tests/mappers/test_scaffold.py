"""The site's letter around a model's body: letter_scaffold, compose_letter, and their agreement with split_letter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rtletter.demo.synth.generate import synthesize
from rtletter.mappers.case import Case
from rtletter.mappers.letter import extract_facts, find_sections, split_letter
from rtletter.mappers.scaffold import Site, compose_letter, letter_scaffold
from rtletter.mappers.template_letter import render_letter, render_part
from rtletter.model.evaluate.facts import check_draft

DATA = Path(__file__).parents[1] / "model" / "data"
SITE = Site(
    institution="Universitätsklinikum Rheinstadt",
    department="Klinik für Radioonkologie und Strahlentherapie",
    head="Prof. Dr. med. Hans-Georg Albrecht",
    town="Rheinstadt",
)
DAY = date(2026, 4, 14)


@pytest.fixture(scope="module")
def rectum() -> Case:
    return Case.model_validate_json((DATA / "case_rectum.json").read_bytes())


def test_the_head_runs_from_the_letterhead_to_the_opening_sentence(rectum: Case) -> None:
    head, tail = letter_scaffold(rectum, "de", SITE, letter_date=DAY)
    assert head.splitlines()[:3] == [SITE.institution, SITE.department, f"Direktor: {SITE.head}"]
    assert "\n\nHerrn\nDr. med. Jonas Weiß\nPraxis für Gastroenterologie\n\nRheinstadt, den 14.04.2026\n\n" in head
    assert "Betr.: Frau Erika Musterfrau, geb. 12.03.1956\n\nSehr geehrter Herr Kollege Dr. med. Weiß," in head
    assert head.endswith("vom 02.03.2026 bis 08.04.2026 in unserer strahlentherapeutischen Behandlung befand.")
    assert "Diagnose" not in head and "Gy" not in head
    assert tail.startswith("Für Rückfragen stehen wir Ihnen jederzeit gerne zur Verfügung.\n\nMit freundlichen")
    assert f"\n\n{SITE.head}\nKlinikdirektor\n\nDr. med. Anna Strahl" in tail
    assert "Nachsorge" not in tail


def test_without_a_site_or_date_those_lines_are_left_out(rectum: Case) -> None:
    head, tail = letter_scaffold(rectum)
    assert head.startswith("Herrn\nDr. med. Jonas Weiß") and "Direktor" not in head and "den " not in head
    assert "Klinikdirektor" not in tail and tail.endswith("Dr. med. Anna Strahl")


def test_no_referring_physician_addresses_the_colleagues(rectum: Case) -> None:
    orphan = rectum.model_copy(update={"referring_physician": None})
    head, _ = letter_scaffold(orphan, "de", SITE)
    assert "An die weiterbehandelnden Kolleginnen und Kollegen" in head
    assert "Sehr geehrte Kolleginnen und Kollegen," in head
    head, _ = letter_scaffold(orphan, "en", SITE)
    assert "To the colleagues continuing care" in head and "Dear colleague," in head


def test_an_english_scaffold_of_the_same_case(rectum: Case) -> None:
    head, tail = letter_scaffold(rectum, "en", SITE, letter_date=DAY)
    assert "Head of department: " in head and "Rheinstadt, 14.04.2026" in head
    assert "Re: Mrs Erika Musterfrau, born 12.03.1956" in head and "Dear Dr Weiß," in head
    assert tail.startswith("Please do not hesitate") and "Kind regards" in tail
    with pytest.raises(ValueError, match="unsupported letter language"):
        letter_scaffold(rectum, "fr")


def test_the_composed_letter_is_the_template_letter_and_splits_back(rectum: Case) -> None:
    body = render_part(rectum, "body")
    letter = compose_letter(rectum, body, SITE, letter_date=DAY)
    assert letter == render_letter(rectum, site=SITE, letter_date=DAY)
    head, tail = letter_scaffold(rectum, "de", SITE, letter_date=DAY)
    assert [part.strip() for part in split_letter(letter, "de")] == [head, body, tail]
    # the model's body goes in as it came, only stripped
    assert compose_letter(rectum, "\n\nDiagnose: X\n\n", SITE).count("\n\nDiagnose: X\n\n") == 1


def test_the_scaffold_states_no_fact_the_case_lacks(rectum: Case) -> None:
    letter = compose_letter(rectum, render_part(rectum, "body"), SITE, letter_date=DAY)
    assert check_draft(rectum, letter).findings == ()
    labels = {f.value: f.label for f in extract_facts(letter, "de") if f.kind == "date"}
    assert labels["2026-04-14"] == "letter date" and labels["1956-03-12"] == "birth date"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cohort_letters_compose_and_split_consistently(lang: str) -> None:
    for synthetic in synthesize(20, 5, lang):
        case = synthetic.case
        body = render_part(case, "body")
        letter = compose_letter(case, body, SITE, letter_date=DAY)
        assert letter == render_letter(case, site=SITE, letter_date=DAY)
        head, cut, tail = split_letter(letter, lang)
        assert cut.strip() == body
        assert find_sections(head, lang)["salutation"] and find_sections(tail, lang)["closing"]
        assert check_draft(case, letter).findings == ()


def test_a_site_template_replaces_the_head_and_tail(rectum: Case, tmp_path: Path) -> None:
    (tmp_path / "letter.de.j2").write_text(
        "{% block head %}Hausbrief für {{ patient.name }}\n\n{{ salutation }}{% endblock %}"
        "{% block body %}{% endblock %}{% block tail %}Tschüss, {{ site.head }}{% endblock %}",
        encoding="utf-8",
    )
    site = Site(head="Prof. X", template_dir=tmp_path)
    head, tail = letter_scaffold(rectum, "de", site)
    assert head == "Hausbrief für Erika Musterfrau\n\nSehr geehrter Herr Kollege Dr. med. Weiß,"
    assert tail == "Tschüss, Prof. X"


def test_a_site_template_without_blocks_cannot_scaffold(rectum: Case, tmp_path: Path) -> None:
    (tmp_path / "letter.de.j2").write_text("Hausbrief {{ patient.name }}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no {% block head %}"):
        letter_scaffold(rectum, "de", Site(template_dir=tmp_path))
    assert render_letter(rectum, template_dir=tmp_path) == "Hausbrief Erika Musterfrau\n"
