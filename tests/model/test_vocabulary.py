"""The site's vocabulary: the word list an adapter ships, and a draft's words outside it and its case."""

from __future__ import annotations

from pathlib import Path

from rtletter.mappers.case import Case
from rtletter.mappers.letter import split_letter
from rtletter.model.vocabulary import FILE, non_words, site_words, template_words, write_site_words
from tests.factories import checked_case, checked_letter


def test_an_adapter_without_a_word_list_counts_nothing(tmp_path: Path) -> None:
    assert site_words(tmp_path) is None and site_words(None) is None


def test_the_word_list_holds_the_letters_words_and_the_templates(tmp_path: Path) -> None:
    write_site_words(tmp_path, ["Die Bestrahlung wurde gut vertragen.", "Nachsorge in 6 Wochen; [dose_total.1] Gy"])
    listed = (tmp_path / FILE).read_text(encoding="utf-8").split()
    assert listed == sorted(listed) and "bestrahlung" in listed and "nachsorge" in listed
    assert "gy" not in listed and "6" not in listed  # too short, or no word
    known = site_words(tmp_path)
    assert known is not None and {"vertragen", "dose"} <= known and template_words() <= known


def test_non_words_are_the_body_words_of_neither_the_site_nor_the_case(tmp_path: Path) -> None:
    case: Case = checked_case()
    letter = checked_letter()
    write_site_words(tmp_path, [split_letter(letter).body])  # the site's letters: bodies, as the model writes
    known = site_words(tmp_path)
    assert known is not None
    assert non_words(case, letter, known) == []
    body_at = letter.index("\n", letter.index("Diagnose")) + 1  # after the first heading's line
    garbled = letter[:body_at] + "Bildgebjährlich zumulativ " + letter[body_at:]
    assert non_words(case, garbled, known) == ["Bildgebjährlich", "zumulativ"]
    family = case.patient.family or ""
    assert family and family.lower() not in known  # the case's own words are no non-words
    assert non_words(case, letter[:body_at] + family + " " + letter[body_at:], known) == []
