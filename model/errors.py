"""Errors of ``rtletter.model``. Messages name the file, key or endpoint at fault and never carry case text (PHI).

Hierarchy::

    ModelError
     ├── ConfigError        a config file or override is unreadable or names an unknown key
     ├── ModelLoadError     a base model, tokenizer or adapter folder is missing or unusable
     ├── DatasetError       a dataset folder or JSONL record is missing or malformed
     └── BackendError       a generation backend failed (HTTP status, connection, bad answer)
          └── BackendTimeout  ...after every retry timed out
"""

from __future__ import annotations


class ModelError(Exception):
    """Root of every error raised by ``rtletter.model``."""


class ConfigError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class DatasetError(ModelError):
    pass


class BackendError(ModelError):
    pass


class BackendTimeout(BackendError):
    pass
