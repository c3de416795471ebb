"""Choosing the letter generator from the settings, and ``TemplateGenerator``, the no-model backend.

``TemplateGenerator`` is a real backend, not a test double: it turns the facts block of the prompt into a plain,
structured letter (salutation, the facts section by section, closing) without any model. Sites without a GPU can
run the whole workflow with it, and the benchmarks use it to measure everything except the model.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rtletter.agent.errors import ConfigError
from rtletter.mappers.prompt import estimate_tokens
from rtletter.model.generator import Generation, Generator, Message

if TYPE_CHECKING:
    from rtletter.agent.config import ModelSettings

TEMPLATE_MODEL_NAME = "rtletter-template"
# The facts block's headings that carry no letter content (see mappers/prompt.py, _HEADINGS).
_SALUTATION_LABELS = {"Anrede": "de", "Salutation": "en"}
_SKIPPED_SECTIONS = {"Notizen aus der Akte (zitierte Daten)", "Notes from the record (quoted data)"}
_CLOSING = {
    "de": "Für Rückfragen stehen wir Ihnen jederzeit gerne zur Verfügung.\n\nMit freundlichen kollegialen Grüßen",
    "en": "Please do not hesitate to contact us with any questions.\n\nWith kind regards",
}
_DRAFT_NOTE = {
    "de": "[Entwurf ohne Sprachmodell aus den strukturierten Daten erstellt; vor Freigabe ärztlich prüfen.]",
    "en": "[Draft assembled from the structured data without a language model; review before signing.]",
}


def _letter_from_facts(facts: str) -> str:
    salutation, lang = "", "de"
    sections: list[tuple[str, list[str]]] = []
    for raw in facts.splitlines():
        line = raw.rstrip()
        if line.startswith("## "):
            sections.append((line[3:].strip(), []))
            continue
        if not sections or not line.strip():
            continue  # the instruction above the first heading is for a model, not for the letter
        label, _, value = line.removeprefix("- ").partition(": ")
        if label in _SALUTATION_LABELS:
            salutation, lang = value.strip(), _SALUTATION_LABELS[label]
            continue
        sections[-1][1].append(line)
    parts = [salutation.rstrip(",") + "," if salutation else ""]
    for heading, lines in sections:
        if heading in _SKIPPED_SECTIONS or not lines:
            continue
        parts.append(heading + "\n" + "\n".join(lines))
    parts.append(_CLOSING[lang])
    parts.append(_DRAFT_NOTE[lang])
    return "\n\n".join(p for p in parts if p) + "\n"


class TemplateGenerator:
    """Drafts a plain letter from the prompt's facts block; deterministic, no model, no I/O."""

    model_name = TEMPLATE_MODEL_NAME

    def generate(self, conversations: list[list[Message]], *, max_new_tokens: int = 1024) -> list[Generation]:
        results = []
        for messages in conversations:
            started = time.perf_counter()
            user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            text = _letter_from_facts(user)
            prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=estimate_tokens(text),
                    seconds=time.perf_counter() - started,
                    model=self.model_name,
                )
            )
        return results


def build_generator(settings: ModelSettings) -> Generator:
    """The generator the settings ask for. Heavy imports (torch) happen only for the local backend.

    Raises:
        ConfigError: the chosen backend is not available in this installation.
    """
    if settings.backend == "template":
        return TemplateGenerator()
    if settings.backend == "local":
        try:
            from rtletter.model.generate import load_generator  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError("model.backend local: rtletter.model.generate is not installed") from exc
        return load_generator(settings.base_dir, adapter=settings.adapter_dir)  # type: ignore[no-any-return]
    try:
        from rtletter.model.generate import load_openai_generator  # type: ignore[import-not-found,attr-defined,unused-ignore]
    except ImportError as exc:
        raise ConfigError("model.backend openai: no OpenAI-compatible generator is installed yet") from exc
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return load_openai_generator(  # type: ignore[no-any-return]
        str(settings.base_url), settings.model_name, api_key=key, concurrency=settings.concurrency
    )  # type: ignore[no-any-return]
