"""ROUGE-1/2/L/Lsum for German and English letters, with rouge-score and a Unicode-aware tokenizer.

rouge-score's default tokenizer lower-cases and keeps only ``[a-z0-9]``: "Ödem" becomes "dem", "Größe" becomes "gr"
and "e", "50,4 Gy" becomes "50" "4" "gy". Passing a tokenizer object (anything with ``tokenize(text)``) replaces it and
also turns off its English Porter stemmer, which would only mangle German words.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence

from rouge_score import rouge_scorer

ROUGE_TYPES: tuple[str, ...] = ("rouge1", "rouge2", "rougeL", "rougeLsum")

# A number with decimal comma or point, a date or a code ("50,4", "2.67", "02.03.2026", "C50.4") stays one token;
# otherwise runs of letters/digits (Unicode \w: umlauts and ß included). Punctuation, "×" and "/" separate tokens.
_TOKEN = re.compile(r"[^\W_]*\d+(?:[.,]\d+)+|[^\W_]+")


class UnicodeTokenizer:
    """Lower-cases (``str.lower``, so ß stays ß), NFC-normalises and splits into words and numbers."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def make_scorer(tokenizer: object | None = None) -> rouge_scorer.RougeScorer:
    """A RougeScorer for ROUGE_TYPES. Lsum treats each line as a sentence (rouge-score splits on newlines).

    Args:
        tokenizer: an object with ``tokenize(text) -> list[str]``; the UnicodeTokenizer when None.
    """
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=tokenizer or UnicodeTokenizer())


def score_pair(reference: str, draft: str, *, scorer: rouge_scorer.RougeScorer | None = None) -> dict[str, float]:
    """F1 of each ROUGE type of one draft against its reference letter."""
    scores = (scorer or make_scorer()).score(reference, draft)
    return {name: scores[name].fmeasure for name in ROUGE_TYPES}


def score_corpus(references: Sequence[str], drafts: Sequence[str]) -> dict[str, float]:
    """Mean F1 of each ROUGE type over paired references and drafts.

    Raises:
        ValueError: when the sequences differ in length or are empty.
    """
    if len(references) != len(drafts):
        raise ValueError(f"{len(references)} references but {len(drafts)} drafts")
    if not references:
        raise ValueError("no letters to score")
    scorer = make_scorer()
    pairs = [score_pair(ref, draft, scorer=scorer) for ref, draft in zip(references, drafts, strict=True)]
    return {name: statistics.fmean(p[name] for p in pairs) for name in ROUGE_TYPES}
