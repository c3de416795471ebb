"""The template backend: a real Arztbrief from the case, never the prompt; site templates override it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtletter.mappers.case import Case
from rtletter.mappers.draft_gate import leaked_prompt
from rtletter.mappers.letter import find_sections
from rtletter.mappers.prompt import build_messages
from rtletter.mappers.template_letter import render_letter
from rtletter.model import BackendError, TemplateBackend
from rtletter.model.evaluate.facts import check_draft

DATA = Path(__file__).parents[1] / "data"
INSTRUCTIONS = ("Schreiben Sie jetzt den Brief", "keine Termine", "nicht als abgeschlossen darstellen", "Faktenblock",
                "## ", "[NOTIZ", "Now write the letter", "do not invent")  # fmt: skip


@pytest.fixture(scope="module")
def rectum() -> Case:
    return Case.model_validate_json((DATA / "case_rectum.json").read_bytes())


def test_the_letter_is_written_from_the_case_with_german_formats(rectum: Case) -> None:
    [generation] = TemplateBackend().generate([build_messages(rectum)])
    text = generation.text
    assert not any(line in text for line in INSTRUCTIONS)
    assert leaked_prompt(text) is None
    # the recipient's address heads the letter (no letterhead without a site), then the subject line
    assert text.startswith("Herrn\nDr. med. Jonas Weiß\nPraxis für Gastroenterologie\n\nBetr.: Frau Erika Musterfrau")
    assert "Sehr geehrte" in text
    assert "28 × 1,8 Gy bis 50,4 Gy" in text and "vom 02.03.2026 bis 08.04.2026" in text
    assert "C20" in text and "Capecitabin" in text and "CTCAE Grad" in text
    assert all(find_sections(text, "de").values())
    report = check_draft(rectum, text)
    assert report.findings == () and report.omitted == ()


def test_the_prompt_text_never_reaches_the_letter(rectum: Case) -> None:
    messages = build_messages(rectum)
    letter = TemplateBackend().generate([messages])[0].text
    prompt_lines = {line.strip() for m in messages for line in m["content"].splitlines() if len(line.strip()) > 30}
    assert not [line for line in prompt_lines if line in letter]
    # plain message dicts (no case attached) are refused, not turned into a "letter"
    with pytest.raises(BackendError, match="writes letters from cases"):
        TemplateBackend().generate([list(messages)])


def test_a_site_overrides_the_letter_template(rectum: Case, tmp_path: Path) -> None:
    (tmp_path / "letter.de.j2").write_text("Hausbrief {{ patient.name }}: {{ course.volumes | join('; ') }}\n")
    text = TemplateBackend(template_dir=tmp_path).generate([build_messages(rectum)])[0].text
    assert text.startswith("Hausbrief ") and "28 × 1,8 Gy bis 50,4 Gy" in text


def test_with_the_scaffold_the_template_backend_writes_the_body_only(rectum: Case) -> None:
    [generation] = TemplateBackend(scaffold=True).generate([build_messages(rectum)])
    assert generation.text.startswith("Diagnose(n):\n") and generation.text.endswith("- Nachsorge: 20.05.2026")
    assert "Betr.:" not in generation.text and "Grüßen" not in generation.text
    assert generation.text in render_letter(rectum)
