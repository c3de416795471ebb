"""Text that must never be posted as a letter: the prompt's own instructions, chat-template control tokens, the
facts block's layout.

A model that echoes its prompt, a backend that returns the prompt, or a template that copies it all produce a
"letter" a physician might sign. ``leaked_prompt(text)`` names what leaked, or returns None for a letter. The
instruction sentences come from the package's prompt templates and headings (``rtletter.mappers.prompt``), so a
change there is picked up here. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rtletter.mappers.prompt import HEADINGS, TEMPLATE_DIR

# Chat-template control tokens of Llama 3, ChatML and friends, as raw text (the prompt defuses them in data).
_CONTROL_TOKEN = re.compile(
    r"<\|(?:eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|im_start|im_end|endoftext|"
    r"reserved_special_token_\d+|python_tag|eom_id|finetune_right_pad_id)\|>|\[/?INST\]|<</?SYS>>"
)
# Lines of the facts block: "## <heading>" and "- <label>: <value>" with the block's own labels, note markers.
_NOTE_MARKER = re.compile(r"^\[(?:NOTIZ|NOTE|ENDE NOTIZ|END NOTE) \d+", re.MULTILINE)
_FACT_LABELS = ("salutation", "referring", "treating", "status", "intent", "period", "volumes", "birth_date", "sex")
_MIN_INSTRUCTION_CHARS = 24  # shorter template lines ("7. Nachsorge.") are ordinary letter words


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@lru_cache(maxsize=1)
def _instructions() -> tuple[tuple[str, ...], tuple[str, ...], tuple[re.Pattern[str], ...]]:
    """(instruction sentences, "## heading" lines, "- label:" patterns) of both languages."""
    sentences: set[str] = set()
    for name in ("system.de.j2", "system.en.j2"):
        text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", (TEMPLATE_DIR / name).read_text(encoding="utf-8"),
                      flags=re.DOTALL)  # fmt: skip
        for line in text.splitlines():
            line = re.sub(r"^\s*(?:-|\d+\.)\s*", "", line)
            for sentence in re.split(r"(?<=\.)\s+", line):
                # sentences quoting letter wording ("„50,4 Gy“", the closing formula) are examples, not instructions
                if len(sentence.strip()) >= _MIN_INSTRUCTION_CHARS and not re.search(r"[„“\"…]", sentence):
                    sentences.add(_normal(sentence))
    headings: set[str] = set()
    labels: list[re.Pattern[str]] = []
    for words in HEADINGS.values():
        for key in ("intro", "task", "stopped_rule", "unconfirmed_rule", "no_appointments", "notes_rule", "deceased",
                    "slots_rule"):  # fmt: skip
            sentences.add(_normal(words[key]))
        for key in ("patient", "physicians", "diagnoses", "history", "course", "events", "follow_up", "notes", "slots"):
            headings.add(_normal(f"## {words[key]}"))
        for key in _FACT_LABELS:
            labels.append(re.compile(rf"^\s*- {re.escape(words[key])}:", re.MULTILINE))
    return tuple(sorted(sentences)), tuple(sorted(headings)), tuple(labels)


def leaked_prompt(text: str) -> str | None:
    """Why ``text`` is not a letter (PHI-free, names the kind of leak), or None when nothing of the prompt leaked."""
    token = _CONTROL_TOKEN.search(text)
    if token:
        return f"chat-template token {token.group(0)}"
    sentences, headings, labels = _instructions()
    lines = {_normal(line) for line in text.splitlines()}
    if heading := next((h for h in headings if h in lines), None):
        return f"facts-block heading '{heading}'"
    if _NOTE_MARKER.search(text):
        return "facts-block note marker"
    if sum(bool(p.search(text)) for p in labels) >= 2:
        return "facts-block layout (labelled fact lines)"
    flat = _normal(text)
    if sentence := next((s for s in sentences if s in flat), None):
        return f"prompt instruction '{sentence[:60]}'"
    return None


@dataclass(frozen=True)
class DraftCheck:
    """What the draft-time check found, for the write-back (Task.input, MDM NTE) and the worklist: the number of
    fact-check findings, how many of them contradict the case, how many key facts of the course the draft leaves out
    (a volume's dose, the course's dates, a stop), and whether generation stopped at its token limit."""

    findings: int = 0
    contradicted: int = 0
    truncated: bool = False
    omitted: int = 0

    def summary(self) -> str:
        return (
            f"fact-check findings: {self.findings} ({self.contradicted} contradicted); "
            f"key facts not stated: {self.omitted}; truncated: {'yes' if self.truncated else 'no'}"
        )


__all__ = ["DraftCheck", "leaked_prompt"]
