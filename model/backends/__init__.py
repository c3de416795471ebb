"""Text-generation backends, each implementing ``Backend`` (``base.py``): one way to turn chat messages into a letter.

- ``LocalBackend`` (``local.py``): a Llama-3 base in this process, with a LoRA adapter (``adapters.py``) or merged;
- ``OpenAIBackend`` (``openai_http.py``): an OpenAI-compatible server (vLLM, llama.cpp, ``rtletter model serve``);
- ``TemplateBackend`` (``template.py``): no model, the letter from the case through the letter templates.

``load_backend`` picks one by name from plain arguments (the agent passes its ``model`` settings). Heavy imports
(torch, transformers, peft) happen only when the local backend is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rtletter.model.backends.base import Backend, Generation, Message
from rtletter.model.backends.local import LocalBackend, load_local_backend
from rtletter.model.backends.openai_http import DEFAULT_CONCURRENCY, OpenAIBackend
from rtletter.model.backends.template import TemplateBackend
from rtletter.model.errors import RecipeConfigError

BackendKind = Literal["local", "openai", "template"]


def load_backend(
    kind: BackendKind,
    *,
    base_dir: Path | None = None,
    adapter_dir: Path | None = None,
    base_url: str | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    template_dir: Path | None = None,
    scaffold: bool = False,
) -> Backend:
    """The backend ``kind`` names, built from what that kind needs.

    Args:
        kind: ``local``, ``openai`` or ``template``.
        base_dir: local: the base model folder.
        adapter_dir: local: a PEFT adapter folder on top of the base; None drafts with the base alone.
        base_url: openai: the server root (``http://127.0.0.1:8000``) or its ``/v1``.
        model_name: openai: the served model or adapter name.
        api_key: openai: sent as a bearer token when set.
        concurrency: openai: requests in flight for a batch (vLLM batches them).
        template_dir: template: a site folder overriding ``letter.<lang>.j2``.
        scaffold: template: write only the letter's body (the site's scaffold writes head and tail).

    Returns:
        A ``LocalBackend``, ``OpenAIBackend`` or ``TemplateBackend``.

    Raises:
        RecipeConfigError: an unknown kind, or a folder, URL or name the kind needs is missing.
        ModelLoadError: local: a model or adapter folder is unusable.
    """
    if kind == "template":
        return TemplateBackend(template_dir, scaffold=scaffold)
    if kind == "local":
        if base_dir is None:
            raise RecipeConfigError("backend local needs base_dir (the base model folder)")
        return load_local_backend(base_dir, adapter=adapter_dir)
    if kind == "openai":
        if not base_url or not model_name:
            raise RecipeConfigError("backend openai needs base_url and model_name")
        return OpenAIBackend(base_url, model_name, api_key=api_key, concurrency=concurrency)
    raise RecipeConfigError(f"unknown backend {kind!r}; use local, openai or template")


__all__ = [
    "Backend",
    "BackendKind",
    "Generation",
    "LocalBackend",
    "Message",
    "OpenAIBackend",
    "TemplateBackend",
    "load_backend",
    "load_local_backend",
]
