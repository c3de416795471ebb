from __future__ import annotations

import pytest
from rouge_score import rouge_scorer, tokenizers

from rtletter.model.evaluate.rouge import ROUGE_TYPES, UnicodeTokenizer, make_scorer, score_corpus, score_pair

REFERENCE = (
    "Sehr geehrte Frau Kollegin Dr. Weiß,\n"
    "wir berichten über Ihre Patientin, die vom 02.03.2026 bis 08.04.2026 bestrahlt wurde.\n"
    "Es zeigte sich ein Ödem Grad 1 und eine Dermatitis Grad 2.\n"
    "Radiatio mit 28 × 1,8 Gy bis 50,4 Gy unter Capecitabin."
)


def test_tokenizer_keeps_umlauts_sharp_s_and_decimal_commas() -> None:
    tokens = UnicodeTokenizer().tokenize("Ödem, Größe 3,5 cm; 28 × 1,8 Gy bis 50,4 Gy am 02.03.2026 (C50.4)")
    assert tokens == ["ödem", "größe", "3,5", "cm", "28", "1,8", "gy", "bis", "50,4", "gy", "am", "02.03.2026", "c50.4"]


def test_default_tokenizer_loses_what_ours_keeps() -> None:
    # The reason this module exists: rouge-score's default keeps only [a-z0-9].
    assert tokenizers.DefaultTokenizer().tokenize("Ödem 3,5") == ["dem", "3", "5"]
    assert UnicodeTokenizer().tokenize("Ödem 3,5") == ["ödem", "3,5"]


def test_tokenizer_normalises_decomposed_umlauts() -> None:
    decomposed = "O\u0308dem"  # Ö as O + combining diaeresis, as some systems send it
    assert UnicodeTokenizer().tokenize(decomposed) == ["ödem"]


def test_identical_letters_score_one() -> None:
    scores = score_pair(REFERENCE, REFERENCE)
    assert set(scores) == set(ROUGE_TYPES)
    assert all(value == pytest.approx(1.0) for value in scores.values())


def test_german_scores_differ_from_default_tokenizer() -> None:
    # Words that differ only in umlauts collapse to the same token with the default tokenizer ("Ödem" and "Adem" are
    # both "dem"), and "50,4" vs "50,0" share the token "50": the default overrates this wrong draft.
    draft = "Es zeigte sich ein Adem Grad 1. Radiatio mit 28 × 1,8 Gy bis 50,0 Gy."
    ours = score_pair(REFERENCE, draft)
    default = rouge_scorer.RougeScorer(list(ROUGE_TYPES)).score(REFERENCE, draft)
    assert ours["rouge1"] < default["rouge1"].fmeasure
    assert ours["rouge2"] < default["rouge2"].fmeasure


def test_rouge_lsum_splits_on_newlines() -> None:
    # Same sentences in another order: ROUGE-L (one sequence) drops, ROUGE-Lsum (per line) does not.
    lines = REFERENCE.split("\n")
    shuffled = "\n".join([lines[3], lines[2], lines[1], lines[0]])
    scores = score_pair(REFERENCE, shuffled)
    assert scores["rougeLsum"] == pytest.approx(1.0)
    assert scores["rougeL"] < 0.6


def test_custom_tokenizer_object_is_used() -> None:
    class Characters:
        def tokenize(self, text: str) -> list[str]:
            return [c for c in text if not c.isspace()]

    scorer = make_scorer(Characters())
    assert score_pair("ab", "ba", scorer=scorer)["rouge1"] == pytest.approx(1.0)


def test_corpus_mean_and_length_mismatch() -> None:
    scores = score_corpus([REFERENCE, REFERENCE], [REFERENCE, "völlig anderer Text"])
    assert 0.4 < scores["rouge1"] < 0.6
    with pytest.raises(ValueError, match="2 references but 1 drafts"):
        score_corpus([REFERENCE, REFERENCE], [REFERENCE])
    with pytest.raises(ValueError):
        score_corpus([], [])
