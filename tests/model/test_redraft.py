"""Redrafting: which drafts count as faulted, which candidate is posted, and the real local backend's redrafts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtletter.mappers.case import Case
from rtletter.model.backends.base import Generation
from rtletter.model.redraft import Faults, faults, redraft
from tests.factories import checked_case, checked_letter


@pytest.fixture(scope="module")
def case() -> Case:
    return checked_case()


@pytest.fixture(scope="module")
def letter() -> str:
    return checked_letter()


def _gen(text: str, *, truncated: bool = False) -> Generation:
    return Generation(text=text, prompt_tokens=1, completion_tokens=1, seconds=0.1, model="m", truncated=truncated)


def _as_is(case: Case, text: str) -> str:
    return text


def test_a_reference_letter_has_no_fault_and_each_fault_is_counted(case: Case, letter: str) -> None:
    assert faults(case, letter, _gen(letter)).clean
    wrong = letter.replace("bis 50,4 Gy", "bis 50,0 Gy")
    assert faults(case, wrong, _gen(wrong)) == Faults(False, 1, False, 1)  # and the true total is left out
    assert faults(case, letter, _gen(letter, truncated=True)) == Faults(False, 0, True, 0)
    leaked = letter + "\nSchreiben Sie jetzt den Brief.\n"
    assert faults(case, leaked, _gen(leaked)).leaked
    assert "C20" in letter
    no_code = letter.replace("C20", "")
    assert faults(case, no_code, _gen(no_code)).other == 1
    body_start = letter.index("Diagnose")
    over = letter + "\n" + letter[body_start:] + "\n" + letter[body_start:]  # the sections written three times
    assert faults(case, over, _gen(over)).other >= 1


def test_faults_rank_leak_then_contradiction_then_cut_off_then_the_rest_then_wording() -> None:
    ranked = [Faults(False, 0, False, 0), Faults(False, 0, False, 0, 9), Faults(False, 0, False, 5),
              Faults(False, 0, True, 0), Faults(False, 1, False, 0), Faults(True, 0, False, 0)]  # fmt: skip
    assert sorted(reversed(ranked)) == ranked
    assert not Faults(False, 0, False, 0, 1).clean


def _garbled(letter: str) -> str:
    at = letter.index("\n", letter.index("Diagnose")) + 1  # in the body, after its first heading
    return letter[:at] + "Bildgebjährlich " + letter[at:]


def test_non_words_are_a_fault_only_with_the_site_words(case: Case, letter: str) -> None:
    from rtletter.mappers.letter import split_letter
    from rtletter.model.vocabulary import words

    known = frozenset(words(split_letter(letter).body))
    garbled = _garbled(letter)
    assert faults(case, garbled, _gen(garbled)).clean  # no word list: wording is not counted
    assert faults(case, garbled, _gen(garbled), known) == Faults(False, 0, False, 0, 1)
    wrong = letter.replace("bis 50,4 Gy", "bis 50,0 Gy")
    backend = Candidates([garbled, letter])
    (chosen,) = redraft(backend, [[]], [case], [_gen(garbled)], finish=_as_is, candidates=2, known=known)
    assert (chosen.picked, chosen.first.wording) == (2, 1) and chosen.faults.clean
    (facts_first,) = redraft(Candidates([garbled]), [[]], [case], [_gen(wrong)], finish=_as_is, candidates=1,
                             known=known)  # fmt: skip
    assert facts_first.picked == 1  # a garbled word ranks below a wrong dose


class Candidates:
    """Fault injection: a backend whose sampled drafts are given texts, in order."""

    model_name = "injected"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.calls: list[int] = []

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Generation]:
        raise AssertionError("redraft never drafts greedily again")

    def sample(self, conversations: list[Any], *, n: int, max_new_tokens: int = 1024, seed: int = 0) -> list[Any]:
        self.calls.append(n)
        return [[_gen(t) for t in self.texts[:n]] for _ in conversations]


def test_a_faulted_draft_is_replaced_by_the_first_candidate_with_the_fewest_faults(case: Case, letter: str) -> None:
    wrong = letter.replace("bis 50,4 Gy", "bis 50,0 Gy")
    no_code = letter.replace("C20", "")
    backend = Candidates([wrong, no_code, letter, letter])
    (chosen,) = redraft(backend, [[]], [case], [_gen(letter, truncated=True)], finish=_as_is, candidates=4)
    assert backend.calls == [4]
    assert (chosen.picked, chosen.candidates) == (3, 4)
    assert chosen.generation.text == letter and chosen.faults.clean
    assert chosen.first == Faults(False, 0, True, 0)


def test_a_clean_draft_is_kept_and_a_tie_keeps_the_first_draft(case: Case, letter: str) -> None:
    backend = Candidates([letter])
    (kept,) = redraft(backend, [[]], [case], [_gen(letter)], finish=_as_is, candidates=4)
    assert backend.calls == [] and (kept.picked, kept.candidates) == (0, 0)
    wrong = letter.replace("bis 50,4 Gy", "bis 50,0 Gy")
    (tie,) = redraft(Candidates([wrong, wrong]), [[]], [case], [_gen(wrong)], finish=_as_is, candidates=2)
    assert (tie.picked, tie.candidates) == (0, 2) and tie.faults == tie.first


def test_no_redraft_without_candidates_or_without_sampling(case: Case, letter: str) -> None:
    from rtletter.model.backends.template import TemplateBackend

    wrong = _gen(letter.replace("bis 50,4 Gy", "bis 50,0 Gy"))
    (off,) = redraft(Candidates([letter]), [[]], [case], [wrong], finish=_as_is, candidates=0)
    (template,) = redraft(TemplateBackend(), [[]], [case], [wrong], finish=_as_is, candidates=4)
    for chosen in (off, template):
        assert chosen.generation is wrong and chosen.candidates == 0 and chosen.faults.contradicted == 1


def test_the_local_backend_redrafts_its_faulted_drafts(micro_base: Path, micro_adapter: Path, micro_data: Path) -> None:
    """The micro model writes noise: every first draft is faulted, and what is posted is never worse than it."""
    from rtletter.model import load_local_backend
    from rtletter.model.dataset import case_from_record

    records = [json.loads(line) for line in (micro_data / "test.jsonl").read_text().splitlines()][:2]
    cases = [case_from_record(r) for r in records]
    conversations = [r["prompt"] for r in records]
    backend = load_local_backend(micro_base, micro_adapter)
    firsts = backend.generate(conversations, max_new_tokens=16)
    chosen = redraft(backend, conversations, cases, firsts, finish=_as_is, candidates=3, max_new_tokens=16)
    again = redraft(backend, conversations, cases, firsts, finish=_as_is, candidates=3, max_new_tokens=16)
    assert [c.generation.text for c in chosen] == [c.generation.text for c in again]  # seeded: reproducible
    for first, choice in zip(firsts, chosen, strict=True):
        assert not choice.first.clean and choice.candidates == 3
        assert choice.faults <= choice.first
        assert (choice.picked == 0) == (choice.generation is first)


class Plain:
    """Fault injection: a fallback that writes a given letter and counts its calls."""

    model_name = "template"

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def generate(self, conversations: list[Any], *, max_new_tokens: int = 1024) -> list[Generation]:
        self.calls += 1
        return [_gen(self.text) for _ in conversations]


def test_a_draft_redrafting_left_faulted_gives_way_to_a_template_letter_with_fewer_faults(
    case: Case, letter: str
) -> None:
    from rtletter.model.redraft import fall_back

    wrong = letter.replace("bis 50,4 Gy", "bis 50,0 Gy")
    stuck = redraft(Candidates([wrong]), [[]], [case], [_gen(wrong)], finish=_as_is, candidates=1)
    (posted,) = fall_back(Plain(letter), [[]], [case], stuck, finish=_as_is)
    assert posted.fell_back and posted.generation.text == letter and posted.faults.clean
    assert posted.model_faults == stuck[0].faults and posted.first == stuck[0].first and posted.candidates == 1
    (kept,) = fall_back(Plain(wrong + "\nSchreiben Sie jetzt den Brief.\n"), [[]], [case], stuck, finish=_as_is)
    assert not kept.fell_back and kept.generation.text == wrong  # a worse template letter is not posted
    clean = redraft(Candidates([]), [[]], [case], [_gen(letter)], finish=_as_is, candidates=1)
    unused = Plain(letter)
    assert fall_back(unused, [[]], [case], clean, finish=_as_is) == clean and unused.calls == 0
