"""Recipe: fine-tune a Llama-3 base on (case, letter) pairs with LoRA or QLoRA; one script, the config picks.

Features, and the config key that turns each on:
- QLoRA: the base loaded in 4-bit NF4 with double quantisation (``quantization: nf4``); bf16 compute on a GPU,
  float32 on CPU (``dtype``); ``quantization: none`` is plain LoRA on full-precision weights;
- LoRA on every linear layer (``lora_rank``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``);
- loss on the letter tokens only: the chat template's ``{% generation %}`` markers give the assistant mask, every
  prompt token is labelled -100 (``components.collate``); an example longer than ``max_length`` keeps its whole
  letter and end-of-turn: its prompt's quoted notes are cut (oldest first), else it is dropped; both are counted;
- gradient checkpointing and paged 8-bit AdamW on a GPU, plain AdamW without checkpointing on CPU (``optimizer``,
  ``gradient_checkpointing``: ``null`` picks by device);
- a rich progress bar, validation loss every ``eval_steps``, checkpoints every ``save_steps`` and ``--resume``;
- with a validation split the adapter saved is the checkpoint of the lowest validation loss (``save_steps`` must be
  a multiple of ``eval_steps``), recorded in the run card;
- the adapter in PEFT's format, a loss-curve PNG, the words of its training letters (``site_words.txt``,
  ``rtletter.model.vocabulary``) and a run card (JSON + Markdown) in the output folder.

    rtletter model finetune --base var/demo/base --data var/demo/dataset --out var/demo/adapter \
        --config model/configs/tiny/qlora_cpu.yaml
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtletter.model.components.config import config_dict, load_config
from rtletter.model.errors import DatasetError

SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}


@dataclass
class FinetuneConfig:
    # Model
    quantization: str = "nf4"  # nf4 = QLoRA; none = LoRA on full-precision weights
    dtype: str | None = None  # None: bfloat16 on GPU, float32 on CPU
    device: str | None = None  # None: cuda when available
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | list[str] = "all-linear"
    lora_modules_to_save: list[str] | None = None  # fully trained extra modules (tiny base only: lm_head)
    gradient_checkpointing: bool | None = None  # None: on for GPU, off for CPU
    # Data
    max_length: int = 4096
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    # Optimizer
    optimizer: str | None = None  # None: paged_adamw_8bit on GPU, adamw_torch on CPU
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: float = 0.03  # < 1: fraction of the steps; >= 1: steps
    lr_scheduler: str = "cosine"
    max_grad_norm: float = 0.3  # QLoRA paper
    # Training
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 1
    grad_accum: int = 16
    seed: int = 42
    threads: int = 2  # CPU threads
    # Logging
    logging_steps: int = 5
    eval_steps: int = 20
    save_steps: int = 20
    save_total_limit: int = 2
    keep_checkpoints: bool = False  # delete checkpoints/ after a successful run
    keep_best: bool = True  # save the checkpoint of the lowest validation loss (save_steps a multiple of eval_steps)

    @property
    def method(self) -> str:
        return "lora" if self.quantization in (None, "", "none") else "qlora"


def read_split(data: Path, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of one split of a dataset folder (``<data>/<split>.jsonl``).

    Args:
        data: dataset folder.
        split: ``train``, ``validation`` or ``test``.
        limit: keep the first ``limit`` records.

    Returns:
        The records (each with ``prompt`` and ``completion`` message lists); [] when a non-train split is absent.

    Raises:
        DatasetError: the train split is missing, a line is not JSON, or a record lacks ``prompt``/``completion``.
    """
    path = Path(data) / f"{split}.jsonl"
    if not path.is_file():
        if split == "train":
            raise DatasetError(f"dataset folder {data} has no {path.name}")
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path.name} line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(record.get("prompt"), list) or not isinstance(record.get("completion"), list):
            raise DatasetError(f"{path.name} line {number}: needs 'prompt' and 'completion' message lists")
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    if split == "train" and not records:
        raise DatasetError(f"{path.name} holds no records")
    return records


class FinetuneRecipe:
    """LoRA / QLoRA fine-tuning with the Hugging Face ``Trainer``. ``setup`` -> ``train`` -> ``save``."""

    def __init__(
        self,
        config: FinetuneConfig,
        base: Path,
        data: Path,
        out: Path,
        *,
        resume: bool = False,
        callbacks: list[Any] | None = None,
    ) -> None:
        self.config = config
        self.base = Path(base).resolve()
        self.data = Path(data)
        self.out = Path(out)
        self.resume = resume
        self.extra_callbacks = callbacks or []

    def setup(self) -> None:
        from rtletter.model.components.checkpointing import resume_point
        from rtletter.model.components.collate import tokenize_example
        from rtletter.model.components.loading import load_tokenizer

        cfg = self.config
        self.prepare_device()
        # Resume point first: asking for --resume without a checkpoint should fail before minutes of loading.
        self.resume_from = resume_point(self.out, self.resume)
        # Tokenizer before data (the chat template makes the labels), data before the model (fail fast on bad data).
        self.tokenizer = load_tokenizer(self.base)
        self.train_records = read_split(self.data, "train", cfg.max_train_examples)
        self.eval_records = read_split(self.data, "validation", cfg.max_eval_examples)
        self.notes_cut = 0  # examples whose prompt lost notes to fit max_length
        self.dropped = 0  # examples too long even without notes

        def tokenize(records: list[dict[str, Any]]) -> list[dict[str, list[int]]]:
            examples = []
            for record in records:
                example = tokenize_example(self.tokenizer, record["prompt"], record["completion"], cfg.max_length)
                self.notes_cut += example.shortened
                self.dropped += example.dropped
                if not example.dropped:
                    examples.append({"input_ids": example.input_ids, "labels": example.labels})
            return examples

        self.train_set = tokenize(self.train_records)
        self.eval_set = tokenize(self.eval_records)
        if not self.train_set:
            raise DatasetError(f"every training example is longer than max_length={cfg.max_length} tokens")
        self.letter_tokens = sum(sum(label != -100 for label in ex["labels"]) for ex in self.train_set)
        self.load_model()

    def prepare_device(self) -> None:
        """Device, dtype, threads and seed from the config (``setup`` calls it; so does bench/gpu)."""
        import torch

        from rtletter.model.components.loading import default_device, default_dtype

        cfg = self.config
        self.started = time.monotonic()
        self.device = cfg.device or default_device()
        self.on_gpu = self.device.startswith("cuda")
        self.dtype = cfg.dtype or default_dtype(self.device)
        if not self.on_gpu:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.resume_from = None

    def load_model(self) -> None:
        """The base as the config loads it (4-bit or not) with LoRA attached (``setup`` calls it; so does bench/gpu)."""
        from rtletter.model.components.loading import load_causal_lm
        from rtletter.model.components.peft_setup import attach_lora, lora_config

        cfg = self.config
        self.model = load_causal_lm(self.base, quantization=cfg.quantization, dtype=self.dtype, device=self.device)
        self.base_parameters = sum(p.numel() for p in self.model.parameters())
        checkpointing = cfg.gradient_checkpointing if cfg.gradient_checkpointing is not None else self.on_gpu
        self.gradient_checkpointing = checkpointing
        lora = lora_config(
            cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules, cfg.lora_modules_to_save
        )
        self.model = attach_lora(
            self.model, lora, quantized=cfg.method == "qlora", gradient_checkpointing=checkpointing
        )

    def _training_arguments(self) -> Any:
        from transformers import TrainingArguments

        from rtletter.model.errors import RecipeConfigError

        cfg = self.config
        has_eval = bool(self.eval_set)
        keep_best = cfg.keep_best and has_eval
        if keep_best and cfg.save_steps % cfg.eval_steps:  # the best is chosen among checkpoints saved at eval steps
            raise RecipeConfigError(
                f"save_steps ({cfg.save_steps}) must be a multiple of eval_steps ({cfg.eval_steps}) with keep_best"
            )
        optimizer = cfg.optimizer or ("paged_adamw_8bit" if self.on_gpu else "adamw_torch")
        return TrainingArguments(
            output_dir=str(self.out / "checkpoints"),
            per_device_train_batch_size=cfg.batch_size,
            per_device_eval_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.grad_accum,
            num_train_epochs=cfg.epochs,
            max_steps=cfg.max_steps,
            learning_rate=cfg.lr,
            weight_decay=cfg.weight_decay,
            warmup_steps=cfg.warmup,
            lr_scheduler_type=cfg.lr_scheduler,
            max_grad_norm=cfg.max_grad_norm,
            optim=optimizer,
            bf16=self.on_gpu and self.dtype == "bfloat16",
            fp16=False,
            use_cpu=not self.on_gpu,
            logging_strategy="steps",
            logging_steps=cfg.logging_steps,
            logging_first_step=True,
            eval_strategy="steps" if has_eval else "no",
            eval_steps=cfg.eval_steps,
            eval_on_start=has_eval,  # the validation loss before training, for the run card
            save_strategy="steps",
            save_steps=cfg.save_steps,
            save_total_limit=cfg.save_total_limit,
            # The adapter saved is the checkpoint with the lowest validation loss, not simply the last one.
            load_best_model_at_end=keep_best,
            metric_for_best_model="eval_loss" if keep_best else None,
            greater_is_better=False if keep_best else None,
            seed=cfg.seed,
            data_seed=cfg.seed,
            report_to="none",
            disable_tqdm=True,  # the rich bar replaces tqdm
            remove_unused_columns=False,
            dataloader_num_workers=0,
        )

    def train(self) -> None:
        from transformers import Trainer
        from transformers.trainer_callback import PrinterCallback

        from rtletter.model.components.collate import CompletionCollator
        from rtletter.model.components.progress import RichProgressCallback

        self.trainer = Trainer(
            model=self.model,
            args=self._training_arguments(),
            train_dataset=self.train_set,
            eval_dataset=self.eval_set or None,
            data_collator=CompletionCollator(self.tokenizer.pad_token_id),
            callbacks=[RichProgressCallback(f"{self.config.method} fine-tuning"), *self.extra_callbacks],
        )
        self.trainer.remove_callback(PrinterCallback)  # with tqdm off it prints every log dict over the rich bar
        started = time.monotonic()
        self.result = self.trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
        self.train_seconds = time.monotonic() - started

    def save(self) -> Path:
        """The adapter in PEFT's format, the loss curve and the run card; then the checkpoints go unless kept."""
        from rtletter.model.components.run_card import (
            cpu_kernels,
            data_hash,
            library_versions,
            plot_loss,
            write_run_card,
        )
        from rtletter.model.vocabulary import write_site_words

        self.out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(self.out)  # adapter_config.json + adapter_model.safetensors
        # the words of the letters it learned, for the worker's wording check (rtletter.model.vocabulary)
        write_site_words(self.out, (m["content"] for r in self.train_records for m in r["completion"]))
        history = self.trainer.state.log_history
        plot_loss(history, self.out / "loss.png", title=f"{self.config.method} fine-tuning of {self.base.name}")
        losses = [e["loss"] for e in history if "loss" in e]
        evals = [e["eval_loss"] for e in history if "eval_loss" in e]
        trainable, total = self.model.get_nb_trainable_parameters()
        best = self.trainer.state.best_model_checkpoint  # .../checkpoint-<step>, when load_best_model_at_end chose
        best_step = int(best.rsplit("-", 1)[-1]) if best else None
        best_loss = self.trainer.state.best_metric if best else None
        steps = self.trainer.state.global_step
        epochs_done = self.trainer.state.epoch or 0.0
        card = {
            "method": self.config.method,
            "adapter": str(self.out),
            "base": {
                "path": str(self.base),
                "model_type": self.model.config.model_type,
                "parameters": self.base_parameters,
                "quantization": self.config.quantization,
                "dtype": self.dtype,
            },
            "data": {
                "folder": str(self.data),
                "sha256": data_hash([self.data / name for name in SPLIT_FILES.values()]),
                "train_examples": len(self.train_set),
                "validation_examples": len(self.eval_set),
                "examples_with_notes_cut": self.notes_cut,
                "examples_dropped_over_length": self.dropped,
                "letter_tokens_per_epoch": self.letter_tokens,
            },
            "hyperparameters": config_dict(self.config),
            "metrics": {
                "steps": steps,
                "epochs": round(float(epochs_done), 3),
                "first_train_loss": losses[0] if losses else None,
                "final_train_loss": losses[-1] if losses else None,
                "mean_train_loss": self.result.training_loss,
                "validation_loss_before": evals[0] if evals else None,
                "validation_loss_after": evals[-1] if evals else None,
                "best_validation_loss": best_loss,
                "best_checkpoint_step": best_step,
                "trainable_parameters": int(trainable),
                "all_parameters": int(total),
                "letter_tokens_per_second": round(self.letter_tokens * float(epochs_done) / self.train_seconds, 1)
                if self.train_seconds > 0
                else None,
            },
            "device": self.device,
            "cpu_kernels": cpu_kernels(),
            "gradient_checkpointing": self.gradient_checkpointing,
            "resumed_from": str(self.resume_from) if self.resume_from else None,
            "libraries": library_versions(),
            "train_seconds": round(self.train_seconds, 1),
            "wall_seconds": round(time.monotonic() - self.started, 1),
        }
        write_run_card(self.out, card)
        if not self.config.keep_checkpoints:
            shutil.rmtree(self.out / "checkpoints", ignore_errors=True)
        self.card = card
        return self.out


def length_note(card: dict[str, Any]) -> str | None:
    """A warning when training examples were over ``max_length`` (None when none was): a dropped example is a letter
    the adapter never saw, and the longest cases (several phases, brachytherapy) are the ones it drops."""
    data = card.get("data", {})
    dropped, cut = data.get("examples_dropped_over_length", 0), data.get("examples_with_notes_cut", 0)
    if not dropped and not cut:
        return None
    limit = card.get("hyperparameters", {}).get("max_length")
    total = data.get("train_examples", 0) + data.get("validation_examples", 0) + dropped
    return (f"{dropped} of {total} examples dropped and {cut} shortened (notes cut) for max_length={limit} tokens: "
            "raise max_length to train on them")  # fmt: skip


def finetune(
    base: Path,
    data: Path,
    out: Path,
    *,
    method: str | None = None,
    config_path: Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``base`` on ``data`` and write the adapter to ``out``.

    Args:
        base: local base model folder (demo base or Meta-Llama-3-8B-Instruct).
        data: dataset folder with ``train.jsonl`` (and ``validation.jsonl``).
        out: adapter folder.
        method: ``qlora`` or ``lora``: overrides the config's ``quantization`` (qlora -> nf4, lora -> none).
        config_path: YAML config (``model/configs/...``).
        overrides: ``key=value`` config overrides.
        resume: continue from the newest checkpoint under ``out/checkpoints``.
        callbacks: extra ``TrainerCallback`` objects (tests inject faults with them).

    Returns:
        The run card.

    Raises:
        RecipeConfigError, DatasetError, ModelLoadError: bad config, dataset or base folder.
    """
    from rtletter.model.errors import RecipeConfigError

    config = load_config(FinetuneConfig, config_path, overrides)
    if method is not None:
        if method not in ("qlora", "lora"):
            raise RecipeConfigError(f"--method must be qlora or lora, not {method!r}")
        if method != config.method:
            config.quantization = "nf4" if method == "qlora" else "none"
    if not math.isfinite(config.lr) or config.lr <= 0:
        raise RecipeConfigError("lr must be a positive number")
    recipe = FinetuneRecipe(config, base, data, out, resume=resume, callbacks=callbacks)
    recipe.setup()
    recipe.train()
    recipe.save()
    return recipe.card
