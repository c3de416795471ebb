"""bench/decoding.py: its tune set is the training letters the adapter did not train on and the validation letters,
never a held-out one. The scores need a trained base (``make demo``); these checks need none."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.bench import BENCH_DIR, load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench(BENCH_DIR / "decoding.py")


def _dataset(folder: Path) -> Path:
    for split, n in (("train", 5), ("validation", 2), ("test", 3)):
        lines = [json.dumps({"id": f"{split}-{i}"}) for i in range(n)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_the_tune_set_is_the_untrained_training_letters_and_the_validation_ones(
    bench: ModuleType, tmp_path: Path
) -> None:
    ids = [json.loads(line)["id"] for line in bench.tune_records(_dataset(tmp_path), 3)]
    assert ids == ["train-3", "train-4", "validation-0", "validation-1"]
    every = [json.loads(line)["id"] for line in bench.tune_records(tmp_path, None)]  # fine-tuning read all of train
    assert every == ["validation-0", "validation-1"]


def test_without_a_trained_adapter_it_says_what_to_run(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--adapter", str(tmp_path), "--dataset", str(_dataset(tmp_path))]) == 2
    assert "make demo" in capsys.readouterr().err
