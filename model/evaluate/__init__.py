"""Evaluation of drafted letters: ROUGE, section completeness, fact consistency, physician review, the report.

``recipe.evaluate`` generates drafts with the base and the fine-tuned model and scores them; the components here are
plain functions over strings and cases, so that the worklist can score signed letters with the same code.
"""

from __future__ import annotations

from rtletter.model.evaluate.facts import FactReport, Finding, check_draft, check_facts
from rtletter.model.evaluate.rouge import ROUGE_TYPES, UnicodeTokenizer, score_corpus, score_pair
from rtletter.model.evaluate.scores import (
    Draft,
    DraftGoals,
    Evaluation,
    EvaluationError,
    draft_goal_shortfalls,
    evaluate_drafts,
    fine_tuned_shortfalls,
    read_drafts,
)
from rtletter.model.evaluate.sections import BODY_SECTIONS, STUDY_SECTIONS, SectionReport, check_sections

__all__ = [
    "BODY_SECTIONS",
    "ROUGE_TYPES",
    "STUDY_SECTIONS",
    "Draft",
    "Evaluation",
    "EvaluationError",
    "FactReport",
    "Finding",
    "SectionReport",
    "UnicodeTokenizer",
    "check_draft",
    "check_facts",
    "check_sections",
    "evaluate_drafts",
    "DraftGoals",
    "draft_goal_shortfalls",
    "fine_tuned_shortfalls",
    "read_drafts",
    "score_corpus",
    "score_pair",
]
