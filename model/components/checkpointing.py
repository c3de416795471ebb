"""Checkpoints of a fine-tuning run, for ``--resume`` after an interruption.

The ``Trainer`` writes ``checkpoint-<step>/`` folders (adapter, optimizer, scheduler, RNG and trainer state); here we
only find the newest one and say clearly when there is none.
"""

from __future__ import annotations

import re
from pathlib import Path

from rtletter.model.errors import RecipeConfigError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dir(out: Path) -> Path:
    """Where a run's checkpoints live: ``<adapter>/checkpoints``."""
    return Path(out) / "checkpoints"


def last_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint of the run writing to ``out``.

    Args:
        out: the adapter folder of the run.

    Returns:
        The ``checkpoint-<step>`` folder with the highest step that has a ``trainer_state.json``, or None.
    """
    folder = checkpoint_dir(out)
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and (child / "trainer_state.json").is_file():  # written last: the checkpoint is complete
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def resume_point(out: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from, or None for a fresh run.

    Args:
        out: the adapter folder of the run.
        resume: the user asked for ``--resume``.

    Returns:
        The newest checkpoint when resuming, else None.

    Raises:
        RecipeConfigError: ``--resume`` without any checkpoint under ``out``.
    """
    if not resume:
        return None
    checkpoint = last_checkpoint(out)
    if checkpoint is None:
        raise RecipeConfigError(f"--resume: no checkpoint under {checkpoint_dir(out)}")
    return checkpoint
