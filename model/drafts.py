"""Drafting the letters of a case file with any backend, and writing them to files: ``rtletter model generate``.

- case files in FHIR R4 or HL7 v2 mapped with ``rtletter.mappers.load.load_cases``, prompted with
  ``build_messages`` under the base's token budget (``prompt_tokens``);
- one batch through the backend (``rtletter.model.backends``: a local base + LoRA adapter, or an OpenAI-compatible
  server);
- drafts to stdout or one ``.txt`` per case plus ``drafts.jsonl`` (``write_drafts``);
- the model writes the body and the site's letter template the rest (``site``, ``rtletter.mappers.scaffold``), as
  in the agent; without a site the model is asked for the whole letter.

    rtletter model generate var/demo/cohort/P0001/bundle.json --adapter var/demo/adapter
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtletter.model.backends.base import Backend, Generation

if TYPE_CHECKING:
    from rtletter.mappers.scaffold import Site

PROMPT_TOKEN_BUDGET = 3072  # of the 4096 training length, leaving 1024 tokens for the letter


def _safe_name(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", case_id).strip("_") or "case"


def draft_file(
    source: Path,
    backend: Backend,
    *,
    count_tokens: Any = None,
    max_new_tokens: int = 1024,
    prompt_tokens: int = PROMPT_TOKEN_BUDGET,
    site: Site | None = None,
    letter_date: date | None = None,
    slots: bool = False,
) -> list[tuple[str, Generation]]:
    """Map a FHIR/HL7 v2 case file, build each case's prompt and draft its letter.

    Args:
        source: the case file.
        backend: any ``Backend``.
        count_tokens: counts prompt tokens exactly (the local tokenizer); default the prompt module's estimate.
        max_new_tokens: the longest letter.
        prompt_tokens: the prompt's token budget.
        site: the model writes the body and ``compose_letter`` the letter around it (the agent's ``model.scaffold``);
            None: the model writes the whole letter.
        letter_date: the date line of the composed letter.
        slots: fact slots: the prompt lists the slot ids and the draft is filled from the case (``model.fact_slots``).

    Returns:
        (case id, generation) per case in the file; the generation's text is the letter as posted (slots filled, and
        with a site the head and tail around the body).

    Raises:
        MappingError: the file cannot be mapped.
    """
    from rtletter.mappers.draft import finish_draft
    from rtletter.mappers.load import load_cases
    from rtletter.mappers.prompt import build_messages

    cases = load_cases(Path(source).read_bytes())
    conversations = [
        list(
            build_messages(
                case, max_tokens=prompt_tokens, count_tokens=count_tokens, scaffold=site is not None, slots=slots
            )
        )
        for case in cases
    ]
    generations = backend.generate(conversations, max_new_tokens=max_new_tokens)
    drafts = []
    for case, generation in zip(cases, generations, strict=True):
        letter = finish_draft(case, generation.text, site, slots=slots, letter_date=letter_date).letter
        generation = replace(generation, text=letter)
        drafts.append((case.case_id, generation))
    return drafts


def write_drafts(drafts: list[tuple[str, Generation]], out: Path) -> list[Path]:
    """One ``<case id>.txt`` per draft and a ``drafts.jsonl`` with token counts and timing, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (out / "drafts.jsonl").open("a", encoding="utf-8") as log:
        for case_id, generation in drafts:
            path = out / f"{_safe_name(case_id)}.txt"
            path.write_text(generation.text + "\n", encoding="utf-8")
            written.append(path)
            log.write(json.dumps({"case_id": case_id, **asdict(generation)}, ensure_ascii=False) + "\n")
    return written
