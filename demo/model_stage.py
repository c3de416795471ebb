"""The demo's model stage: demo base -> dataset -> QLoRA adapter -> base-vs-fine-tuned evaluation.

Every step reuses what an earlier run left in the work folder when it is still valid, so a second ``make demo`` only
re-scores: the base when its build card's config equals ``configs/tiny/base.yaml``; the adapter when its key (config,
training data and base weights) is unchanged; the drafts of the evaluation when their key (adapter key and test data)
is unchanged. Each step is the same function its CLI command calls (``rtletter model build-base|finetune|eval``,
``rtletter dataset build``).

The model writes the letter's body and the department's letter template the rest (``rtletter.mappers.scaffold``), as
in the agent: the dataset's targets are the reference letters' bodies with fact slots in place of the values
(``FACT_SLOTS``, the agent's default), and the evaluation fills them from each case and scores the whole letter and
the body alone, each against its shuffled-reference floor. The synthetic department is the site (``demo_site``).
Beside the gate (fine-tuned beats base) the stage prints the draft goals of issue #12 and which ones the stand-in
still misses (``goal_misses``). The goals are held by the drafts as the agent writes them with the model: the first
(greedy) draft, redrafted with ``DEMO_REDRAFT`` sampled candidates where the fact check faults it (the system
``redrafted``; the template letter the agent may post instead is not counted). The first drafts' misses are printed
beside them: a 3M-parameter stand-in derails on one held-out case in twenty now and then, and redrafting is how the
agent catches that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rtletter.demo.base_model import BUILD_CARD
from rtletter.demo.base_model import DEFAULT_CONFIG as BASE_CONFIG
from rtletter.demo.timings import Timings
from rtletter.model.components.config import config_dict

FINETUNE_CONFIG = BASE_CONFIG.parent / "qlora_cpu.yaml"  # model/configs/tiny/
KEY_FILE = "demo_key.txt"
NEW_TOKENS_SLACK = 1.25  # drafts may run this much past the longest reference letter, no further
MAX_NEW_TOKENS = 1024
EVAL_BATCH = 32
FACT_SLOTS = True  # the model writes slot ids, the case the values (model.fact_slots, the agent's default)
DEMO_REDRAFT = 4  # sampled candidates per faulted draft, held-out and agent stage (model.redraft; agent default 8)


@dataclass
class ModelArtifacts:
    base: Path
    dataset: Path
    adapter: Path
    eval_dir: Path | None = None
    max_new_tokens: int = MAX_NEW_TOKENS
    shortfalls: list[str] = field(default_factory=list)  # where fine-tuned does not beat base: the gate
    goal_misses: list[str] = field(default_factory=list)  # the draft goals (held-out cases, floors, completeness ...)
    timings: Timings = field(default_factory=Timings)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# The code that turns a prompt into a draft's text: the evaluation's drafts are reused only while it is unchanged.
DECODING_MODULES = (
    "rtletter.model.backends.local",
    "rtletter.model.backends.repetition",
    "rtletter.model.backends.slot_constraint",
    "rtletter.mappers.prompt",  # the volume names the coverage rule reads from the prompt
    "rtletter.mappers.slots.cues",
    "rtletter.mappers.claims",  # the claims the decoder does not write
    "rtletter.mappers.slots.render",
    "rtletter.mappers.draft",
    # which drafts are redrafted, and which candidate is kept: the ranking and the checks it reads
    "rtletter.model.redraft",
    "rtletter.model.evaluate.facts",
    "rtletter.model.evaluate.context",
    "rtletter.model.vocabulary",
)


def decoding_key(modules: tuple[str, ...] = DECODING_MODULES) -> str:
    """A hash of the decoding code's source files."""
    import importlib

    files = [Path(str(importlib.import_module(name).__file__)) for name in modules]
    return _key(*(_sha256_file(path) for path in files))


def _read_key(folder: Path) -> str | None:
    path = folder / KEY_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def base_is_current(base: Path) -> bool:
    """A complete base folder built from today's ``configs/tiny/base.yaml`` and today's corpus (a changed config, or
    a cohort generator that now writes other cases or prompts, means a rebuild)."""
    from rtletter.demo.base_model import BaseConfig, corpus, is_complete
    from rtletter.model.components.config import load_config

    if not is_complete(base):
        return False
    try:
        card = json.loads((base / BUILD_CARD).read_text(encoding="utf-8"))
        json.loads((base / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    config = load_config(BaseConfig, BASE_CONFIG)
    return bool(card.get("config") == config_dict(config) and card.get("corpus_sha256") == corpus(config)[2])


def ensure_base(console: Console, base: Path) -> Path:
    from rtletter.demo.base_model import build_base

    if base_is_current(base):
        card = json.loads((base / BUILD_CARD).read_text(encoding="utf-8"))
        console.print(
            f"reused base model {base} ({card['parameters']:,} parameters, {card['steps']} steps, "
            f"built in {card['train_seconds']} s)"
        )
        return base
    console.print(f"building the demo base model into {base} (tokenizer + small Llama from scratch, offline) ...")
    build_base(base, BASE_CONFIG, force=True)
    card = json.loads((base / BUILD_CARD).read_text(encoding="utf-8"))
    console.print(f"built base model: {card['parameters']:,} parameters, final loss {card['loss'][-1]['loss']:.3f}")
    return base


def draft_length(longest: int) -> int:
    """The demo's ``max_new_tokens``: a little past its longest reference letter (``longest`` tokens), at most
    ``MAX_NEW_TOKENS``."""
    return min(MAX_NEW_TOKENS, round(longest * NEW_TOKENS_SLACK))


def build_demo_dataset(console: Console, cohort: Path, dataset: Path, base: Path) -> int:
    """Write the dataset (tokenizer = the base's) and return the longest reference letter in tokens."""
    from rtletter.model.components.loading import load_tokenizer
    from rtletter.model.dataset import build_dataset

    stats = build_dataset(cohort, dataset, tokenizer=load_tokenizer(base), slots=FACT_SLOTS)
    console.print(stats.summary(), markup=False, highlight=False)
    return stats.completion.max


def adapter_key(base: Path, dataset: Path) -> str:
    """What the adapter depends on: the fine-tuning config, the train/validation data and the base weights."""
    from rtletter.model.components.config import load_config
    from rtletter.model.components.run_card import data_hash
    from rtletter.model.finetune import SPLIT_FILES, FinetuneConfig

    config = config_dict(load_config(FinetuneConfig, FINETUNE_CONFIG))
    data = data_hash([dataset / name for name in SPLIT_FILES.values()])
    return _key("adapter", config, data, _sha256_file(base / "model.safetensors"))


def ensure_adapter(console: Console, base: Path, dataset: Path, adapter: Path) -> Path:
    from rtletter.model.finetune import finetune, length_note

    key = adapter_key(base, dataset)
    if _read_key(adapter) == key and (adapter / "adapter_model.safetensors").is_file():
        card = json.loads((adapter / "run_card.json").read_text(encoding="utf-8"))
        console.print(
            f"reused adapter {adapter} (same config, data and base; trained in {card['train_seconds']} s, "
            f"train loss {card['metrics']['first_train_loss']:.3f} -> {card['metrics']['final_train_loss']:.3f})"
        )
        return adapter
    (adapter / KEY_FILE).unlink(missing_ok=True)  # a run cut short must not leave a stale key behind
    console.print(f"fine-tuning with configs/tiny/{FINETUNE_CONFIG.name} into {adapter} ...")
    card = finetune(base, dataset, adapter, config_path=FINETUNE_CONFIG)
    (adapter / KEY_FILE).write_text(key + "\n", encoding="utf-8")
    metrics = card["metrics"]
    console.print(
        f"{card['method']} adapter: {metrics['steps']} steps in {card['train_seconds']} s, train loss "
        f"{metrics['first_train_loss']:.3f} -> {metrics['final_train_loss']:.3f}, validation loss "
        f"{_loss(metrics['validation_loss_before'])} -> {_loss(metrics['validation_loss_after'])}"
    )
    if (note := length_note(card)) is not None:
        console.print(f"[yellow]{note}[/yellow]")
    return adapter


def demo_site(lang: str = "de") -> Any:
    """The synthetic cohort's department as the site whose letter template writes head and tail."""
    from rtletter.demo.synth.people import DEPARTMENTS
    from rtletter.mappers.scaffold import Site

    department = DEPARTMENTS[lang]
    return Site(institution=department.name, department=department.clinic, head=department.head,
                town=department.town)  # fmt: skip


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_rich_table(evaluation: Any) -> Table:
    from rtletter.model.evaluate.report import summary_table

    header, rows = summary_table(evaluation)
    table = Table(title="Held-out synthetic cases: base vs fine-tuned")
    for number, name in enumerate(header):
        table.add_column(name, justify="left" if number == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def body_summary(evaluation: Any) -> list[str]:
    """Plain lines on what the model itself wrote: its body against the shuffled-reference floor of the bodies (the
    template's words excluded), body completeness, and how many drafts ended by themselves."""
    floor = evaluation.shuffled_body_rouge or {}
    lines = []
    for summary in evaluation.summaries:
        rouge = summary.body_rouge
        versus = ""
        if floor:
            above = all(rouge[n] > floor[n] for n in ("rouge1", "rougeL"))
            versus = (f" vs shuffled bodies {floor['rouge1']:.3f} / {floor['rougeL']:.3f} "
                      f"({'above' if above else 'below'} the floor)")  # fmt: skip
        ended = "not recorded" if summary.ended_share is None else f"{summary.ended}/{summary.ended_of}"
        lines.append(
            f"{summary.system}: body ROUGE-1 / ROUGE-L {rouge['rouge1']:.3f} / {rouge['rougeL']:.3f}{versus}; "
            f"body completeness {summary.body_completeness:.2f}; ended with end-of-turn {ended}"
        )
    return lines


def run_evaluation(console: Console, base: Path, dataset: Path, adapter: Path, out: Path, max_new_tokens: int) -> Any:
    """Draft the test split with both models and the template backend (or re-score the drafts of an earlier run with
    the same adapter, test data, site and decoding code)."""
    from dataclasses import asdict
    from functools import partial

    from rtletter.model.backends.local import load_local_backend
    from rtletter.model.components.run_card import data_hash
    from rtletter.model.evaluate.recipe import evaluate

    test = dataset / "test.jsonl"
    site = demo_site()
    key = _key("eval", _read_key(adapter), data_hash([test]), max_new_tokens, asdict(site), "template", DEMO_REDRAFT,
               decoding_key())  # fmt: skip
    drafts = out / "drafts.jsonl"
    reuse = _read_key(out) == key and drafts.is_file()
    if reuse:
        console.print(f"re-scoring the drafts of an earlier run ({drafts}: same adapter and test data)")
    else:
        (out / KEY_FILE).unlink(missing_ok=True)
        count = sum(1 for line in test.read_text(encoding="utf-8").splitlines() if line.strip())
        console.print(f"drafting {count} held-out cases with the fine-tuned and the base model (and the template); "
                      f"faulted fine-tuned drafts are redrafted ({DEMO_REDRAFT} candidates each) ...")  # fmt: skip
    evaluation = evaluate(
        test,
        base=base,
        adapter=adapter,
        baseline=True,
        out=out,
        drafts=drafts if reuse else None,
        max_new_tokens=max_new_tokens,
        site=site,
        template=True,  # the site's template letter without a model: the baseline a model has to beat
        # the held-out cases in one batch per model: a 3M-parameter model on CPU spends its step time on overhead
        batch_size=EVAL_BATCH,
        backend_factory=partial(load_local_backend, batch_size=EVAL_BATCH),
        redraft=DEMO_REDRAFT,
    )
    if not reuse:
        (out / KEY_FILE).write_text(key + "\n", encoding="utf-8")
    return evaluation


def _quiet_transformers() -> None:
    """The demo prints its own progress: no tqdm bars per weight file, no deprecation notes from inside transformers."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


def prepare_model(console: Console, work: Path, cohort: Path, timings: Timings) -> ModelArtifacts:
    """Base, dataset and adapter (each reused when still valid): what the agent stage drafts with."""
    from rtletter.model.components.loading import set_offline

    set_offline()
    _quiet_transformers()
    artifacts = ModelArtifacts(base=work / "base", dataset=work / "dataset", adapter=work / "adapter", timings=timings)
    with timings.measure("base model"):
        ensure_base(console, artifacts.base)
    with timings.measure("dataset"):
        longest = build_demo_dataset(console, cohort, artifacts.dataset, artifacts.base)
        artifacts.max_new_tokens = draft_length(longest)
    with timings.measure("fine-tuning"):
        ensure_adapter(console, artifacts.base, artifacts.dataset, artifacts.adapter)
    return artifacts


def model_stage(console: Console, work: Path, cohort: Path, timings: Timings) -> ModelArtifacts:
    """``prepare_model``, then the evaluation; ``shortfalls`` lists where fine-tuned does not beat base."""
    from rtletter.model.evaluate import draft_goal_shortfalls, fine_tuned_shortfalls
    from rtletter.model.evaluate.scores import REDRAFTED

    artifacts = prepare_model(console, work, cohort, timings)
    artifacts.eval_dir = work / "eval"
    with timings.measure("evaluation (base, fine-tuned, redrafted, template)"):
        evaluation = run_evaluation(
            console, artifacts.base, artifacts.dataset, artifacts.adapter, artifacts.eval_dir, artifacts.max_new_tokens
        )
    console.print(summary_rich_table(evaluation))
    for line in body_summary(evaluation):
        console.print(line, markup=False, highlight=False)
    console.print(f"report: {artifacts.eval_dir / 'report.html'} and {artifacts.eval_dir / 'report.md'}")
    artifacts.goal_misses = draft_goal_shortfalls(evaluation, system=REDRAFTED)
    mode = "fact slots" if FACT_SLOTS else "free text"
    drafts = f"{mode}; first drafts redrafted where faulted, {DEMO_REDRAFT} candidates, as the agent drafts"
    if artifacts.goal_misses:
        console.print(f"[yellow]Draft goals not yet met by the fine-tuned stand-in ({drafts}):[/yellow]")
        for line in artifacts.goal_misses:
            console.print(f"  [yellow]{line}[/yellow]")
    else:
        console.print(f"[green]Draft goals met by the fine-tuned stand-in ({drafts}).[/green]")
    first = draft_goal_shortfalls(evaluation)
    console.print("first drafts alone (greedy, not redrafted): " + ("; ".join(first) if first else "goals met"),
                  markup=False, highlight=False)  # fmt: skip
    artifacts.shortfalls = fine_tuned_shortfalls(evaluation)
    if artifacts.shortfalls:
        console.print("[red]The fine-tuned model does not beat its base on:[/red]")
        for line in artifacts.shortfalls:
            console.print(f"  [red]{line}[/red]")
    else:
        console.print("[green]The fine-tuned model beats its base on every ROUGE score and on section completeness, "
                      "of the whole letter and of the body it wrote.")  # fmt: skip
    return artifacts
