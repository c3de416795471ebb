"""The site's vocabulary: the words of its training letters, shipped with the adapter, and the words of a draft that
are in neither it nor the case (non-words: "Bildgebjährlich", "zumulativ", "àativ").

A small model that derails writes word fragments that no fact check sees: the values come from slots, the words
around them do not. ``fine-tune`` writes the words of the letters it trained on to ``site_words.txt`` in the adapter
folder; the worker loads them with the adapter (``model.adapter_dir``) and counts a draft's non-words as a wording
fault when it redrafts (``rtletter.model.redraft``). The site's letter templates (the template backend's wording)
count as the site's words too, and so does every word of the case's own prompt (names, drugs, free-text notes).

It is a spell check against the site's letters: it is blind to grammar and order, and a word the site never wrote
is not wrong in itself (a rare drug, a new place name) unless the case does not name it either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from rtletter.mappers.case import Case
from rtletter.mappers.letter import split_letter
from rtletter.mappers.prompt import build_messages

FILE = "site_words.txt"  # in the adapter folder, one word per line, lower case, sorted
WORD = re.compile(r"[^\W\d_]{3,}")  # letters only, three or more: "Gy", "ED", "mg" are no words to check


def words(text: str) -> set[str]:
    """The checked words of ``text``, lower case."""
    return {w.lower() for w in WORD.findall(text)}


def template_words() -> set[str]:
    """The words of the site's letter templates (``letter.<lang>.j2``)."""
    from rtletter.mappers import template_letter

    folder = Path(template_letter.__file__).parent / "templates"
    return set().union(*(words(path.read_text("utf-8")) for path in sorted(folder.glob("letter.*.j2"))))


def letter_words(letters: Iterable[str]) -> set[str]:
    """The words of the site's letters (the completions a model is fine-tuned on)."""
    return set().union(*(words(text) for text in letters))


def write_site_words(folder: Path, letters: Iterable[str]) -> Path:
    """``site_words.txt`` in ``folder``: the words of ``letters``."""
    path = Path(folder) / FILE
    path.write_text("".join(f"{w}\n" for w in sorted(letter_words(letters))), encoding="utf-8")
    return path


def site_words(folder: Path | None) -> frozenset[str] | None:
    """The site's words for an adapter folder: its ``site_words.txt`` and the letter templates' words; None when the
    folder has no word list (an adapter trained before it was written, a merged model), so nothing is counted."""
    if folder is None or not (Path(folder) / FILE).is_file():
        return None
    listed = (Path(folder) / FILE).read_text(encoding="utf-8").split()
    return frozenset(listed) | template_words()


def non_words(case: Case, letter: str, known: frozenset[str]) -> list[str]:
    """The words of the letter's body, in order, that neither ``known`` nor the case's own prompt contain."""
    prompt = " ".join(m["content"] for m in build_messages(case, scaffold=True, slots=True))
    allowed = known | words(prompt)
    return [w for w in WORD.findall(split_letter(letter, case.language).body) if w.lower() not in allowed]
