"""Section completeness: which of the elements the study checked a draft contains.

The elements (salutation, diagnoses, treatment history, the radiotherapy course, recommendations, follow-up schedule)
are those the study reported the fine-tuned model to produce; ``rtletter.mappers.letter.find_sections`` recognises
them by heading or by telling content, in German and English. It also finds tolerance ("Verlauf") and the closing;
those are reported but not part of the completeness score. The body completeness scores the six sections a model
writes under the letter template (``BODY_SECTIONS``: diagnoses to follow-up, tolerance included), in its body alone.
"""

from __future__ import annotations

from dataclasses import dataclass

STUDY_SECTIONS: tuple[str, ...] = (
    "salutation",
    "diagnoses",
    "treatment_history",
    "course",
    "recommendations",
    "follow_up",
)
# The sections the model writes when the site's letter template writes the head and the closing
# (rtletter.mappers.scaffold): the body completeness is scored on these, in the body alone.
BODY_SECTIONS: tuple[str, ...] = (
    "diagnoses",
    "treatment_history",
    "course",
    "tolerance",
    "recommendations",
    "follow_up",
)

SECTION_TITLES: dict[str, str] = {
    "salutation": "salutation",
    "diagnoses": "diagnoses",
    "treatment_history": "treatment history",
    "course": "radiotherapy course",
    "tolerance": "tolerance",
    "recommendations": "recommendations",
    "follow_up": "follow-up schedule",
    "closing": "closing",
}


@dataclass(frozen=True)
class SectionReport:
    present: dict[str, bool]  # every section find_sections knows

    @property
    def missing(self) -> list[str]:
        """Study elements the draft lacks, in letter order."""
        return [name for name in STUDY_SECTIONS if not self.present.get(name, False)]

    @property
    def completeness(self) -> float:
        """Share of the study elements present, 0..1."""
        return 1 - len(self.missing) / len(STUDY_SECTIONS)

    @property
    def complete(self) -> bool:
        return not self.missing

    def share(self, names: tuple[str, ...]) -> float:
        """Share of ``names`` present, 0..1 (``BODY_SECTIONS`` for the body a model writes)."""
        return sum(bool(self.present.get(name, False)) for name in names) / len(names)


def check_sections(text: str, lang: str = "de") -> SectionReport:
    """Which sections a draft has (``lang`` is the case's letter language, ``de`` or ``en``)."""
    from rtletter.mappers.letter import find_sections

    return SectionReport(present=dict(find_sections(text, lang)))
