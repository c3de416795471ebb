"""The site's letter around the model's body: what a department's letter module writes, and what the model writes.

A department's letter template supplies everything that follows from the case and the site alone: the letterhead,
the recipient's address, the date line, the subject ("Betr.:") line, the salutation with the opening sentence, and
after the clinical part the closing, the signatures and the copy list. The model writes only the clinical body
between them (diagnoses, history, radiotherapy, course and tolerance, recommendations, follow-up), so that it is
neither trained nor scored on text a template writes better, and the evaluation can score the body alone.

``letter_scaffold`` renders the head and the tail from the ``head`` and ``tail`` blocks of the site's
``letter.<lang>.j2`` (``rtletter.mappers.template_letter``); ``compose_letter`` is the one place where a generated
body becomes the letter that is posted (the agent's worker, ``rtletter model generate`` and the evaluation's drafts);
``rtletter.mappers.letter.split_letter`` cuts reference and signed letters the same way for training. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rtletter.mappers.case import Case
from rtletter.mappers.template_letter import render_part


@dataclass(frozen=True)
class Site:
    """The department whose letters these are: the letterhead, and where its own letter templates lie.

    Every field may stay empty: its line is then left out (a site's ``letter.<lang>.j2`` may print more)."""

    institution: str = ""  # "Universitätsklinikum Rheinstadt"
    department: str = ""  # "Klinik für Radioonkologie und Strahlentherapie"
    head: str = ""  # head of department: named in the letterhead, signs every letter
    town: str = ""  # of the date line: "Rheinstadt, den 14.04.2026"
    template_dir: Path | None = None  # a folder with the site's letter.de.j2 / letter.en.j2 (blocks head, tail)


def _in_language(case: Case, lang: str | None) -> Case:
    if lang is None or lang == case.language:
        return case
    if lang not in ("de", "en"):
        raise ValueError(f"unsupported letter language: {lang!r}")
    return case.model_copy(update={"language": lang})


def letter_scaffold(
    case: Case, lang: str | None = None, site: Site | None = None, *, letter_date: date | None = None
) -> tuple[str, str]:
    """(head, tail) of the letter for ``case`` in ``lang`` (default: the case's): head from the letterhead to the
    opening sentence, tail from the closing to the copy list; each without surrounding blank lines.

    Args:
        case: the mapped course (patient, referring and treating physician, copies).
        lang: ``de`` or ``en``; None: ``case.language``.
        site: letterhead and templates; None: no letterhead lines, the package's templates.
        letter_date: the date line; None: no date line.

    Raises:
        ValueError: an unknown language, or a site template without ``head``/``tail`` blocks.
    """
    case = _in_language(case, lang)
    site = site or Site()
    parts = {
        part: render_part(case, part, template_dir=site.template_dir, site=site, letter_date=letter_date)
        for part in ("head", "tail")
    }
    return parts["head"], parts["tail"]


def compose_letter(case: Case, body: str, site: Site | None = None, *, letter_date: date | None = None) -> str:
    """The letter that is posted: the site's head, the generated ``body`` as it came, the site's tail."""
    head, tail = letter_scaffold(case, site=site, letter_date=letter_date)
    return "\n\n".join(part for part in (head, body.strip(), tail) if part) + "\n"


__all__ = ["Site", "compose_letter", "letter_scaffold"]
