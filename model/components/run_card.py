"""Run cards and loss curves: what was trained, on what, how, and how well, next to the adapter.

A run card answers an auditor's questions without the training machine: base model, dataset hash, every
hyperparameter, metrics, library versions and wall time, as JSON (for tools) and Markdown (for people).
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "tokenizers", "rtletter")


def data_hash(files: list[Path]) -> str:
    """SHA-256 over the given files' names and bytes, in order.

    Args:
        files: dataset files (missing ones are skipped but change the hash through their absence).

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for path in files:
        if path.is_file():
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape training, plus Python."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_kernels() -> str:
    """The vector extension torch's CPU kernels use ("AVX2", "AVX512"): the same seed trains different weights on
    different ones, so a card that names it explains a rerun that does not match."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def plot_loss(log_history: list[dict[str, Any]], path: Path, title: str = "fine-tuning loss") -> Path:
    """Draw training and validation loss against the step into a PNG.

    Args:
        log_history: ``Trainer.state.log_history`` (entries with ``step`` and ``loss`` / ``eval_loss``).
        path: the PNG to write.
        title: the figure title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="training loss", marker=".")
    if evals:
        ax.plot(*zip(*evals, strict=True), label="validation loss", marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (letter tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_run_card(folder: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``run_card.json`` and ``run_card.md`` into ``folder``.

    Args:
        folder: the adapter folder.
        card: sections ``base``, ``data``, ``hyperparameters``, ``metrics``, ``libraries``, ``wall_seconds`` ...

    Returns:
        The JSON and Markdown paths.
    """
    json_path = folder / "run_card.json"
    json_path.write_text(json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    lines = [f"# Run card: {card.get('method', 'fine-tuning')} adapter", ""]
    for key, value in card.items():
        if isinstance(value, dict):
            lines += ["", f"## {key.replace('_', ' ').capitalize()}", "", "| key | value |", "| --- | --- |"]
            lines += [f"| {k} | {_cell(v)} |" for k, v in value.items()]
        else:
            lines.append(f"- **{key.replace('_', ' ')}**: {_cell(value)}")
    md_path = folder / "run_card.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, list | dict) else str(value)
    return text.replace("|", "\\|")
