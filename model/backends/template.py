"""The template backend: the letter (or its body) from the case through the Jinja letter templates, no model.

``TemplateBackend`` is a real backend, not a test double: it writes the letter from the case through
``rtletter.mappers.template_letter`` (a site overrides ``letter.<lang>.j2`` with a folder passed as ``template_dir``,
as for the prompt templates), never from the prompt text; with ``scaffold`` it writes only the body block, as a model
does, and the worker puts the site's head and tail around it. Sites without a GPU run the whole workflow with it, the
benchmarks use it to measure everything except the model, and it is the baseline a model must beat.

It keeps the ``Backend`` interface (conversations in, generations out): it reads the case from each conversation's
``.case`` attribute, which ``rtletter.mappers.prompt.build_messages`` attaches to the messages it returns. A
conversation without it (plain message dicts, e.g. through the OpenAI-compatible server) is refused with a clear
error: the template backend cannot write a letter from a prompt, and must not.
"""

from __future__ import annotations

import time
from pathlib import Path

from rtletter.mappers.case import Case
from rtletter.mappers.prompt import estimate_tokens
from rtletter.mappers.template_letter import render_letter, render_part
from rtletter.model.backends.base import Generation, Message
from rtletter.model.errors import BackendError

TEMPLATE_MODEL_NAME = "rtletter-template"


class TemplateBackend:
    """Writes the letter of each conversation's case from the letter templates; deterministic, no model.

    Raises (from ``generate``):
        BackendError: a conversation carries no case (plain messages, not those of ``build_messages(case)``).
    """

    model_name = TEMPLATE_MODEL_NAME
    template_dir: Path | None = None
    scaffold: bool = False

    def __init__(self, template_dir: Path | None = None, *, scaffold: bool = False) -> None:
        self.template_dir = template_dir
        self.scaffold = scaffold  # write the body only: the scaffold (model.scaffold) writes head and tail

    def generate(self, conversations: list[list[Message]], *, max_new_tokens: int = 1024) -> list[Generation]:
        results = []
        for messages in conversations:
            started = time.perf_counter()
            case = getattr(messages, "case", None)
            if not isinstance(case, Case):
                raise BackendError(
                    "the template backend writes letters from cases: pass the messages of build_messages(case)"
                )
            if self.scaffold:
                text = render_part(case, "body", template_dir=self.template_dir)
            else:
                text = render_letter(case, template_dir=self.template_dir)
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=sum(estimate_tokens(m["content"]) for m in messages),
                    completion_tokens=estimate_tokens(text),
                    seconds=time.perf_counter() - started,
                    model=self.model_name,
                )
            )
        return results
