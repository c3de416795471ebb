"""Evaluation of drafted letters: ROUGE, section completeness, fact consistency, physician review, the report.

``recipe.evaluate`` generates drafts with the base and the fine-tuned model and scores them; the components here are
plain functions over strings and cases, so that the worklist can score signed letters with the same code.
"""

from __future__ import annotations

from rtletter.model.evaluate.rouge import ROUGE_TYPES, UnicodeTokenizer, score_corpus, score_pair

__all__ = ["ROUGE_TYPES", "UnicodeTokenizer", "score_corpus", "score_pair"]
