"""Fact slots: the model writes the prose, the case writes the values.

``case_slots(case)`` gives every checkable fact of a case a short id (``[dose_total.1]``, ``[fx.1]``,
``[date_start]``); ``delexicalise`` puts those ids into training letters in place of the values; ``fill`` puts the
values back into a draft in the letter's locale, and marks what the case does not have as ``[[? id]]``.
See ../shared/docs/fact-slots.md for the design.

Modules: ``table`` (ids, roles, sources), ``render`` (locale formats, ``fill``, the slot pattern), ``align``
(delexicalisation and its coverage), ``cues`` (the words that fix a value's role), ``words`` (month, modality and
drug names per language).
"""

from rtletter.mappers.slots.align import (
    Alignment,
    Coverage,
    Delexicalised,
    Mention,
    coverage,
    delexicalise,
)
from rtletter.mappers.slots.cues import (
    date_cue,
    diagnosis_date_due,
    dose_cue,
    excluded_roles,
    slot_due,
    times_allowed,
    volume_due,
)
from rtletter.mappers.slots.render import (
    GAP_PATTERN,
    SLOT_PATTERN,
    Filled,
    FilledSpan,
    allowed_ids,
    fill,
    render_value,
    slot_ref,
    unknown_ids,
)
from rtletter.mappers.slots.table import ROLES, Slot, SlotTable, case_slots

__all__ = [
    "GAP_PATTERN",
    "ROLES",
    "SLOT_PATTERN",
    "Alignment",
    "Coverage",
    "Delexicalised",
    "Filled",
    "FilledSpan",
    "Mention",
    "Slot",
    "SlotTable",
    "allowed_ids",
    "case_slots",
    "coverage",
    "date_cue",
    "delexicalise",
    "diagnosis_date_due",
    "dose_cue",
    "excluded_roles",
    "fill",
    "render_value",
    "slot_due",
    "slot_ref",
    "times_allowed",
    "unknown_ids",
    "volume_due",
]
