"""rtletter.model: fine-tune (QLoRA), serve, evaluate and run the letter model.

Public API (import from here; submodules are the package's own business)::

    Backend, Generation, Message          the one interface every backend implements (backends/base.py)
    LocalBackend, OpenAIBackend, TemplateBackend
    load_backend, load_local_backend      a backend by name from plain arguments / a local base + adapter
    adapter_rank                          a LoRA adapter folder's rank (plain JSON: the agent's start-up check)
    draft_file, write_drafts              ``rtletter model generate``: a case file's drafts, written to files
    redraft, Redrafted, Faults            a faulted draft drafted again by sampling, the best candidate kept
    site_words, non_words                 the site's words shipped with an adapter; a draft's words outside them
    build_dataset                         cohort -> train/validation/test JSONL
    FinetuneConfig, FinetuneRecipe        the QLoRA/LoRA fine-tuning recipe (setup -> train -> save)
    EvaluationRecipe                      the evaluation recipe (setup -> generate -> score -> save)
    export_merged                         the adapter folded into the base, for servers without LoRA
    ModelServer                           the OpenAI-compatible server over the local backend
    ModelError and its tree               (errors.py; EvaluationError from evaluate/scores.py)

The one-call entry points ``finetune``, ``evaluate`` and ``serve`` stay in their modules
(``rtletter.model.finetune.finetune``, ...): a package attribute of the same name would be replaced by the module as
soon as that is imported.

Names are imported on first use, so that ``import rtletter.model`` (or its errors) stays cheap: torch,
transformers and matplotlib load only with what needs them. This package never imports ``rtletter.agent``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rtletter.model.errors import (
    BackendError,
    BackendTimeout,
    DatasetError,
    ModelError,
    ModelLoadError,
    RecipeConfigError,
)

if TYPE_CHECKING:
    from rtletter.model.backends import (
        Backend,
        Generation,
        LocalBackend,
        Message,
        OpenAIBackend,
        TemplateBackend,
        load_backend,
        load_local_backend,
    )
    from rtletter.model.backends.adapters import adapter_rank
    from rtletter.model.dataset import build_dataset
    from rtletter.model.drafts import draft_file, write_drafts
    from rtletter.model.evaluate.recipe import EvaluationRecipe
    from rtletter.model.evaluate.scores import EvaluationError
    from rtletter.model.export import export_merged
    from rtletter.model.finetune import FinetuneConfig, FinetuneRecipe
    from rtletter.model.redraft import Faults, Redrafted, redraft
    from rtletter.model.serve import ModelServer
    from rtletter.model.vocabulary import non_words, site_words

# public name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "Backend": "rtletter.model.backends",
    "Generation": "rtletter.model.backends",
    "Message": "rtletter.model.backends",
    "LocalBackend": "rtletter.model.backends",
    "OpenAIBackend": "rtletter.model.backends",
    "TemplateBackend": "rtletter.model.backends",
    "load_backend": "rtletter.model.backends",
    "load_local_backend": "rtletter.model.backends",
    "adapter_rank": "rtletter.model.backends.adapters",
    "draft_file": "rtletter.model.drafts",
    "write_drafts": "rtletter.model.drafts",
    "build_dataset": "rtletter.model.dataset",
    "FinetuneConfig": "rtletter.model.finetune",
    "FinetuneRecipe": "rtletter.model.finetune",
    "EvaluationRecipe": "rtletter.model.evaluate.recipe",
    "EvaluationError": "rtletter.model.evaluate.scores",
    "export_merged": "rtletter.model.export",
    "Faults": "rtletter.model.redraft",
    "Redrafted": "rtletter.model.redraft",
    "redraft": "rtletter.model.redraft",
    "ModelServer": "rtletter.model.serve",
    "non_words": "rtletter.model.vocabulary",
    "site_words": "rtletter.model.vocabulary",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "Backend",
    "BackendError",
    "BackendTimeout",
    "DatasetError",
    "EvaluationError",
    "EvaluationRecipe",
    "Faults",
    "FinetuneConfig",
    "FinetuneRecipe",
    "Generation",
    "LocalBackend",
    "Message",
    "ModelError",
    "ModelLoadError",
    "ModelServer",
    "OpenAIBackend",
    "RecipeConfigError",
    "Redrafted",
    "TemplateBackend",
    "adapter_rank",
    "build_dataset",
    "draft_file",
    "export_merged",
    "load_backend",
    "load_local_backend",
    "non_words",
    "redraft",
    "site_words",
    "write_drafts",
]
