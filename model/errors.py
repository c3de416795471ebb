"""Errors of ``rtletter.model``. Messages name the file, key or endpoint at fault and never carry case text (PHI).

Hierarchy::

    ModelError
     ├── RecipeConfigError  a recipe's config file, override or argument is unreadable, unknown or out of range
     ├── ModelLoadError     a base model, tokenizer or adapter folder is missing or unusable
     ├── DatasetError       a dataset folder or JSONL record is missing or malformed
     ├── BackendError       a generation backend failed (HTTP status, connection, bad answer, a conversation
     │    │                 the template backend cannot write from)
     │    └── BackendTimeout  ...after every retry timed out
     └── EvaluationError    drafts, data or ratings given to the evaluation are missing or malformed
                            (``rtletter.model.evaluate.scores``)

The agent's settings have their own ``rtletter.agent.errors.ConfigError``; this package never imports the agent.
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of every error raised by ``rtletter.model``."""


class RecipeConfigError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class DatasetError(ModelError):
    pass


class BackendError(ModelError):
    pass


class BackendTimeout(BackendError):
    pass
