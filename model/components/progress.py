"""A rich progress bar for training loops and a ``transformers.TrainerCallback`` that drives it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


def training_progress(console: Console | None = None) -> Progress:
    """A progress bar showing step m/n, elapsed and remaining time, and a free ``metrics`` field (loss, lr).

    Args:
        console: where to draw (default: stderr, so stdout stays clean for results).

    Returns:
        A ``rich.progress.Progress``; use it as a context manager.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=console or Console(stderr=True),
        transient=False,
    )


class RichProgressCallback(TrainerCallback):
    """Shows a ``Trainer`` run as a rich progress bar with the latest training and validation loss."""

    def __init__(self, description: str = "fine-tuning", console: Console | None = None) -> None:
        self.description = description
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None
        self.metrics: dict[str, float] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = training_progress(self.console)
        self.progress.start()
        self.task = self.progress.add_task(
            self.description, total=state.max_steps, completed=state.global_step, metrics=""
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, metrics=self._metrics_text())

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        for key in ("loss", "eval_loss"):
            if logs and key in logs:
                self.metrics[key] = float(logs[key])
        if self.progress is not None:
            self.progress.update(self.task, metrics=self._metrics_text())

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, metrics=self._metrics_text())
            self.progress.stop()
            self.progress = None

    def _metrics_text(self) -> str:
        return "  ".join(f"{key} {value:.3f}" for key, value in self.metrics.items())
