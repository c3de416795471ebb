"""Recipe: build the demo base model, a small Llama-3-architecture LM trained from scratch, offline and seeded.

It stands in for Meta-Llama-3-8B-Instruct where nothing can be downloaded: the folder it writes has the same layout
(``config.json``, ``model.safetensors``, ``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json`` with
the Llama-3 chat template), so every later step loads it with the same code as a local 8B folder.

Features, and the config key that drives each:
- byte-level BPE tokenizer with Llama-3's split pattern and special tokens, German and English (``vocab_size``);
- LlamaForCausalLM from scratch (``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ...);
- corpus from a synthetic cohort drawn with its own seed (``corpus_patients``, ``corpus_seed``, ``languages``): the
  prompts' system and facts blocks and the cases' facts, in the chat format but never an assistant turn and never a
  reference letter, so the base knows the vocabulary but has never seen the site's letter style (the study's base
  models were useless before fine-tuning); with ``other_letters`` also the same cases' letters as another house
  writes them (the package's default letter template, not the synthetic department's styles), as plain text and
  never as the answer to a prompt, so that the base knows how German and English letters read, as Llama-3 does;
- packed sequences, AdamW with warmup and cosine decay (``lr``, ``warmup_steps``, ``steps``, ``batch_size``,
  ``seq_len``), an optional wall-clock guard (``max_minutes``, off: the demo's base is the same on every machine);
- the folder is reused when it is complete (the demo calls this every time); ``--force`` rebuilds.

    rtletter model build-base --out var/demo/base --config model/configs/tiny/base.yaml
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rtletter.model
from rtletter.demo.kernels import pin_cpu_kernels
from rtletter.model.components.config import config_dict, load_config
from rtletter.model.components.run_card import cpu_kernels

BASE_FILES = ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json")
BUILD_CARD = "build_card.json"
# The config stays beside the tiny recipes it matches (model/configs/tiny/), so it ships with rtletter.model.
DEFAULT_CONFIG = Path(rtletter.model.__file__).parent / "configs" / "tiny" / "base.yaml"


@dataclass
class BaseConfig:
    """Defaults equal ``model/configs/tiny/base.yaml``."""

    # Model
    vocab_size: int = 4096
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    rope_theta: float = 500000.0  # Llama 3
    # Data
    corpus_patients: int = 150
    corpus_seed: int = 1009  # not the demo/evaluation cohort's seed
    languages: list[str] = field(default_factory=lambda: ["de", "en"])
    other_letters: bool = True  # another house's letters of the corpus cohort, as plain text
    # Optimizer
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 6
    # Training
    seed: int = 1009
    steps: int = 60
    batch_size: int = 2
    seq_len: int = 1024
    threads: int = 2
    max_minutes: float | None = None  # a wall-clock guard makes the result depend on the machine: off by default
    # Generation (written to generation_config.json)
    repetition_penalty: float = 1.1
    # Logging
    log_every: int = 10


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a finished base (written last, so an interrupted build never counts)."""
    return all((folder / name).is_file() for name in (*BASE_FILES, BUILD_CARD))


def corpus_documents(patients: int, seed: int, languages: list[str]) -> list[list[dict[str, str]]]:
    """Conversations for the base corpus: per case its system and user turns, never the letter.

    Args:
        patients: cohort size per language.
        seed: the cohort's seed (keep it apart from the evaluation cohort's).
        languages: ``"de"`` and/or ``"en"``.

    Returns:
        One ``[system, user]`` message list per case, and one ``[user]`` list with the case's facts as
        ``label: value`` lines.
    """
    from rtletter.demo.synth import synthesize  # generate_cohort's cases without the FHIR/v2 rendering
    from rtletter.mappers.prompt import build_messages

    documents: list[list[dict[str, str]]] = []
    for lang in languages:
        for patient in synthesize(patients, seed, lang):
            case = patient.case
            documents.append([dict(m) for m in build_messages(case, slots=True)])  # the ids' tokens, as prompted
            facts = "\n".join(f"{fact.label}: {fact.value}" for fact in case.facts())
            documents.append([{"role": "user", "content": facts}])
    return documents


def other_letters(patients: int, seed: int, languages: list[str]) -> list[str]:
    """Letters of the corpus cohort as another department writes them: the package's default letter template
    (``rtletter.mappers.template_letter``), whose headings and sentences are not the synthetic department's."""
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.template_letter import render_letter

    return [render_letter(p.case) for lang in languages for p in synthesize(patients, seed, lang)]


def corpus(cfg: BaseConfig) -> tuple[list[list[dict[str, str]]], list[str], str]:
    """The base's corpus (conversations, another house's letters) and its SHA-256: the build card records it, and a
    changed cohort generator changes it, so that a base built before the change is rebuilt, not reused."""
    documents = corpus_documents(cfg.corpus_patients, cfg.corpus_seed, cfg.languages)
    letters = other_letters(cfg.corpus_patients, cfg.corpus_seed, cfg.languages) if cfg.other_letters else []
    text = json.dumps([documents, letters] if letters else documents, ensure_ascii=False)
    return documents, letters, hashlib.sha256(text.encode()).hexdigest()


class BuildBaseRecipe:
    """Trains tokenizer and model, then saves both in Hugging Face format. ``setup`` -> ``train`` -> ``save``."""

    def __init__(self, config: BaseConfig, out: Path) -> None:
        self.config = config
        self.out = Path(out)
        self.log: list[dict[str, float]] = []

    def setup(self) -> None:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = self.config
        torch.set_num_threads(cfg.threads)
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        # Corpus first: the tokenizer is trained on it, the model's vocabulary size comes from the tokenizer.
        documents, letters, self.corpus_sha256 = corpus(cfg)
        from rtletter.model.components.tokenizer import train_tokenizer

        texts = [m["content"] for doc in documents for m in doc] + letters
        self.tokenizer = train_tokenizer(iter(texts), cfg.vocab_size)
        self.blocks = self._pack(documents, letters)
        tok = self.tokenizer
        model_config = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=cfg.hidden_size,
            intermediate_size=cfg.intermediate_size,
            num_hidden_layers=cfg.num_hidden_layers,
            num_attention_heads=cfg.num_attention_heads,
            num_key_value_heads=cfg.num_key_value_heads,
            max_position_embeddings=cfg.max_position_embeddings,
            rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
            tie_word_embeddings=False,  # as Llama-3-8B
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.convert_tokens_to_ids("<|eot_id|>"),
            pad_token_id=tok.pad_token_id,
        )
        self.model = LlamaForCausalLM(model_config)
        # Decay matrices only: norms and embeddings keep their scale (the usual GPT/Llama recipe).
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "embed" not in n]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim < 2 or "embed" in n]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            betas=(0.9, 0.95),
        )

        def schedule(step: int) -> float:
            if step < cfg.warmup_steps:
                return (step + 1) / cfg.warmup_steps
            progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)

    def _pack(self, documents: list[list[dict[str, str]]], letters: list[str]) -> Any:
        """Render each document in the chat format, each letter as plain text after ``<|begin_of_text|>``, end each
        with ``<|end_of_text|>`` and cut the stream into blocks."""
        import torch

        stream: list[int] = []
        end = self.tokenizer.convert_tokens_to_ids("<|end_of_text|>")
        assert isinstance(end, int)  # one token in, one id out (transformers types it for a list too)
        chats = self.tokenizer.apply_chat_template(documents, tokenize=False, add_generation_prompt=False)
        # One batched call to the Rust tokenizer; the rendered text already starts with <|begin_of_text|>.
        texts = [str(text) for text in chats] + [f"{self.tokenizer.bos_token}{letter}" for letter in letters]
        for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            stream.append(end)
        seq = self.config.seq_len
        count = len(stream) // seq
        if count == 0:
            raise ValueError(f"corpus of {len(stream)} tokens is shorter than one block of {seq}")
        self.corpus_tokens = len(stream)
        return torch.tensor(stream[: count * seq]).view(count, seq)

    def train(self) -> None:
        import torch

        from rtletter.model.components.progress import training_progress

        cfg = self.config
        generator = torch.Generator().manual_seed(cfg.seed)
        order = torch.randperm(len(self.blocks), generator=generator)
        cursor = 0
        started = time.monotonic()
        self.model.train()
        self.steps_done = 0
        with training_progress() as progress:
            task = progress.add_task("base model", total=cfg.steps, metrics="")
            for step in range(cfg.steps):
                if cursor + cfg.batch_size > len(order):  # next epoch, new order
                    order, cursor = torch.randperm(len(self.blocks), generator=generator), 0
                batch = self.blocks[order[cursor : cursor + cfg.batch_size]]
                cursor += cfg.batch_size
                loss = self.model(input_ids=batch, labels=batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.steps_done = step + 1
                value = loss.item()
                if step % cfg.log_every == 0 or step == cfg.steps - 1:
                    self.log.append({"step": step + 1, "loss": value, "lr": float(self.scheduler.get_last_lr()[0])})
                progress.update(task, completed=step + 1, metrics=f"loss {value:.3f}")
                if cfg.max_minutes is not None and time.monotonic() - started > cfg.max_minutes * 60:
                    progress.console.print(f"[yellow]stopped at step {step + 1}: max_minutes={cfg.max_minutes}")
                    break
        self.train_seconds = time.monotonic() - started
        self.model.eval()  # type: ignore[no-untyped-call]

    def save(self) -> Path:
        """Write the folder atomically: a temporary sibling renamed into place once everything is on disk."""
        from transformers import GenerationConfig

        tmp = self.out.with_name(self.out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        tok = self.tokenizer
        stop_ids = [tok.convert_tokens_to_ids("<|end_of_text|>"), tok.convert_tokens_to_ids("<|eot_id|>")]
        self.model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
            bos_token_id=tok.bos_token_id,
            eos_token_id=stop_ids,
            pad_token_id=tok.pad_token_id,
            do_sample=False,
            repetition_penalty=self.config.repetition_penalty,
        )
        self.model.save_pretrained(tmp)  # safetensors
        tok.save_pretrained(tmp)
        card = {
            "kind": "rtletter demo base (Llama architecture, trained from scratch)",
            "config": config_dict(self.config),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "corpus_sha256": self.corpus_sha256,
            "corpus_tokens": self.corpus_tokens,
            "steps": self.steps_done,
            "train_seconds": round(self.train_seconds, 1),
            "cpu_kernels": cpu_kernels(),
            "loss": self.log,
        }
        (tmp / BUILD_CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
        shutil.rmtree(self.out, ignore_errors=True)
        tmp.rename(self.out)
        return self.out


def build_base(
    out: Path,
    config_path: Path | None = None,
    overrides: list[str] | None = None,
    *,
    seed: int | None = None,
    force: bool = False,
) -> Path:
    """Build the demo base into ``out`` unless a complete one is already there.

    Args:
        out: target folder.
        config_path: YAML config (default: ``model/configs/tiny/base.yaml``).
        overrides: ``key=value`` config overrides.
        seed: overrides the config's training seed.
        force: rebuild even when ``out`` is complete.

    Returns:
        ``out``.

    Raises:
        RecipeConfigError: bad config.
    """
    if is_complete(out) and not force:
        return out
    pin_cpu_kernels()
    config = load_config(BaseConfig, config_path or DEFAULT_CONFIG, overrides)
    if seed is not None:
        config.seed = seed
    recipe = BuildBaseRecipe(config, out)
    recipe.setup()
    recipe.train()
    return recipe.save()


def main(out: Path, config: Path | None = None, seed: int | None = None, force: bool = False) -> Path:
    from rtletter.model.components.loading import set_offline

    set_offline()
    return build_base(out, config, seed=seed, force=force)
