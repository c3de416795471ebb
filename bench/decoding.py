"""Decoding changes measured on letters the adapter never trained on, so that the held-out ones stay held out.

The demo fine-tunes on the first ``max_train_examples`` of its training patients (the adapter's run card: 150 of 183)
and scores the drafts of 21 held-out patients. A decoding rule tuned against those 21 is fitted to them. The training
patients past the limit and the validation patients (their letters gave only the evaluation loss) are a tune set of 49
that neither the adapter's gradients nor the demo's scores saw: try a rule here, then confirm it once on the held-out
set.

    .venv/bin/python bench/decoding.py                             # the demo's base, adapter and dataset
    .venv/bin/python bench/decoding.py --repetition-penalty 1.05 --out /tmp/tune-1.05

Prints the fine-tuned drafts' scores (body ROUGE, completeness, findings, drafts that ended by themselves) and writes
the evaluation report, with every draft and finding, into ``--out``. The demo's CPU kernels and draft length apply.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "var" / "demo"


def tune_records(dataset: Path, max_train_examples: int | None) -> list[str]:
    """The JSONL lines of the tune set: the training records past the first ``max_train_examples`` (the ones
    fine-tuning read; None: it read them all), then the validation ones."""
    train = (dataset / "train.jsonl").read_text(encoding="utf-8").splitlines()
    validation = (dataset / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    unread = train[max_train_examples:] if max_train_examples is not None else []
    return [line for line in unread + validation if line.strip()]


def summary(evaluation: Any) -> str:
    """One line of the fine-tuned system's scores."""
    tuned = next(s for s in evaluation.summaries if s.system == "finetuned")
    return (
        f"{tuned.n} tune letters: body ROUGE-1 / ROUGE-L {tuned.body_rouge['rouge1']:.3f} / "
        f"{tuned.body_rouge['rougeL']:.3f}, body completeness {tuned.body_completeness:.3f}, contradicted "
        f"{tuned.contradicted}, unsupported {tuned.unsupported}, key facts omitted {tuned.omitted}, ended "
        f"{tuned.ended}/{tuned.ended_of}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, default=DEMO / "base")
    parser.add_argument("--adapter", type=Path, default=DEMO / "adapter")
    parser.add_argument("--dataset", type=Path, default=DEMO / "dataset")
    parser.add_argument("--out", type=Path, default=DEMO / "tune")
    parser.add_argument("--repetition-penalty", type=float, help="default: the base folder's generation config")
    args = parser.parse_args(argv)
    card = args.adapter / "run_card.json"
    if not card.is_file() or not (args.dataset / "stats.json").is_file():
        print(f"error: no adapter run card in {args.adapter} or no dataset in {args.dataset}: run `make demo` first",
              file=sys.stderr)  # fmt: skip
        return 2

    from rtletter.demo.kernels import pin_cpu_kernels

    pin_cpu_kernels()  # before torch runs: the demo's numbers come from these kernels
    from functools import partial

    from rtletter.demo.model_stage import EVAL_BATCH, demo_site, draft_length
    from rtletter.model.backends.local import load_local_backend
    from rtletter.model.components.loading import set_offline
    from rtletter.model.evaluate.recipe import evaluate

    set_offline()
    limit = json.loads(card.read_text(encoding="utf-8"))["hyperparameters"]["max_train_examples"]
    records = tune_records(args.dataset, limit)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "tune.jsonl"
    data.write_text("\n".join(records) + "\n", encoding="utf-8")
    longest = json.loads((args.dataset / "stats.json").read_text(encoding="utf-8"))["completion"]["max"]
    extra = {} if args.repetition_penalty is None else {"repetition_penalty": args.repetition_penalty}
    evaluation = evaluate(
        data,
        base=args.base,
        adapter=args.adapter,
        baseline=False,
        out=args.out,
        max_new_tokens=draft_length(longest),
        site=demo_site(),
        batch_size=EVAL_BATCH,
        backend_factory=partial(load_local_backend, batch_size=EVAL_BATCH, **extra),
    )
    print(summary(evaluation))
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
