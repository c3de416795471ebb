"""Fixtures for the model tests: a micro dataset and a LoRA adapter on tests/conftest.py's micro base.

Session-scoped and chained (``micro_base -> micro_data -> micro_adapter``): built once, in seconds, on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA_SEED = 31  # neither the base corpus's (1009) nor the demo cohort's (7)


def write_dataset(folder: Path, n: int = 6, seed: int = DATA_SEED, lang: str = "de") -> Path:
    """train/validation/test JSONL in the dataset helper's format, from synthetic cases and their letters."""
    from rtletter.demo.synth import synthesize
    from rtletter.mappers.prompt import build_messages

    records = []
    for item in synthesize(n, seed, lang):
        records.append(
            {
                "id": item.case.case_id,
                "patient_id": item.patient_id,
                "case": json.loads(item.case.model_dump_json()),
                "prompt": [dict(m) for m in build_messages(item.case)],
                "completion": [{"role": "assistant", "content": item.letter}],
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": records[: n - 2], "validation": records[n - 2 : n - 1], "test": records[n - 1 :]}
    for split, rows in splits.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return folder


@pytest.fixture(scope="session")
def micro_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("micro-data") / "dataset")


# A few full-batch steps (every step sees the same 4 examples, so the logged losses are comparable) with a large
# learning rate: enough to move the adapter far from its zero initialisation. Four were at the edge: on the cohort
# whose metastases take their primary's sex, step 4's loss was 6.656 against 6.652 at step 1; six give 6.572.
QUICK = ["max_steps=6", "batch_size=4", "grad_accum=1", "lr=5e-3", "logging_steps=1", "eval_steps=2",
         "save_steps=2", "warmup=0", "max_length=4096", "lr_scheduler=constant", "threads=1"]  # fmt: skip


@pytest.fixture(scope="session")
def micro_adapter(micro_base: Path, micro_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rtletter.model.finetune import finetune

    out = tmp_path_factory.mktemp("micro-adapter") / "letters"
    finetune(micro_base, micro_data, out, method="lora", overrides=QUICK)
    return out
