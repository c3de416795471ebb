"""A model's text -> the letter that is posted: fill the fact slots from the case, then the site's head and tail.

This is the one place where generated text becomes a letter, for the agent's worker, sign-off's regenerate,
``rtletter model generate`` and the evaluation. With fact slots (``model.fact_slots``) the model wrote ids such as
``[dose_total.1]`` in place of values; ``rtletter.mappers.slots.fill`` renders each from the case in the letter's
locale, and an id the case does not hold (or holds without a value) becomes the visible gap ``[[? id]]``, which the
fact check reports. Without slots the text is kept as it came. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rtletter.mappers.case import Case
from rtletter.mappers.scaffold import Site, compose_letter
from rtletter.mappers.slots import Filled, case_slots, fill


@dataclass(frozen=True)
class FinishedDraft:
    letter: str  # what is posted: the filled body inside the site's head and tail (or the filled whole letter)
    body: str  # the model's part after filling
    filled: Filled | None = None  # where each value landed and came from; None without slots

    @property
    def gaps(self) -> tuple[str, ...]:
        return self.filled.gaps if self.filled else ()

    def sources(self) -> list[dict[str, str | None]]:
        """Each filled value once, in order: its slot id, the text it became and where the case has it from."""
        if self.filled is None:
            return []
        seen: dict[str, dict[str, str | None]] = {}
        for span in self.filled.spans:
            value = self.body[span.start : span.end]
            seen.setdefault(span.slot_id + value, {"slot": span.slot_id, "value": value, "source": span.source})
        return list(seen.values())


def finish_draft(
    case: Case, model_text: str, site: Site | None = None, *, slots: bool, letter_date: date | None = None
) -> FinishedDraft:
    """The letter for ``model_text``: slots filled from ``case`` (``slots``), then with a ``site`` its head and tail
    around it (the model wrote the body); without a site the model wrote the whole letter."""
    body = model_text.strip()
    filled = None
    if slots:
        filled = fill(body, case_slots(case), case.language)
        body = filled.text
    letter = compose_letter(case, body, site, letter_date=letter_date) if site is not None else body
    return FinishedDraft(letter=letter, body=body, filled=filled)


__all__ = ["FinishedDraft", "finish_draft"]
