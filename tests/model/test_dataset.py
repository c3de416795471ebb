from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtletter.mappers.case import Case
from rtletter.mappers.letter import split_letter
from rtletter.model.dataset import (
    SPLITS,
    build_dataset,
    case_from_record,
    dataset_from_pairs,
    make_record,
    read_cohort,
    read_jsonl,
    split_for,
)
from rtletter.model.errors import DatasetError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def sample_case() -> Case:
    return Case.model_validate_json((DATA / "case_rectum.json").read_bytes())


@pytest.fixture(scope="module")
def sample_letter() -> str:
    return (DATA / "letter_rectum_de.txt").read_text(encoding="utf-8")


def _variant(case: Case, patient: int, course: int = 1) -> Case:
    copy = case.model_copy(deep=True)
    copy.patient.id = f"P-{patient:04d}"
    copy.case_id = f"synthetic:course-{patient:04d}-{course}"
    copy.course.id = f"course-{patient:04d}-{course}"
    return copy


def _write_cohort(root: Path, case: Case, letter: str, patients: int) -> Path:
    """A cohort folder in the layout `rtletter synth` writes (manifest + per patient case.json and letter.txt)."""
    entries = []
    for number in range(patients):
        item = _variant(case, number)
        folder = root / item.patient.id
        folder.mkdir(parents=True)
        (folder / "case.json").write_text(item.model_dump_json(indent=2), encoding="utf-8")
        (folder / "letter.txt").write_text(letter.replace("Musterfrau", f"Musterfrau {number}"), encoding="utf-8")
        entries.append({"patient_id": item.patient.id, "entity": "rectum"})
    (root / "manifest.json").write_text(json.dumps({"patients": entries}), encoding="utf-8")
    return root


def test_split_is_stable_and_roughly_80_10_10() -> None:
    ids = [f"P-{n:05d}" for n in range(2000)]
    splits = [split_for(i) for i in ids]
    assert splits == [split_for(i) for i in ids]
    share = {s: splits.count(s) / len(ids) for s in SPLITS}
    assert 0.77 < share["train"] < 0.83
    assert 0.08 < share["validation"] < 0.12
    assert 0.08 < share["test"] < 0.12


def test_split_does_not_depend_on_the_process() -> None:
    # Python's hash() is salted per process; a fresh interpreter must agree with this one.
    import subprocess
    import sys

    ids = [f"P-{n:05d}" for n in range(50)]
    code = (
        "from rtletter.model.dataset import split_for; import sys; print(','.join(split_for(i) for i in sys.argv[1:]))"
    )
    other = subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True, check=True)
    assert other.stdout.strip().split(",") == [split_for(i) for i in ids]


def test_record_is_trl_conversational_prompt_completion(sample_case: Case, sample_letter: str) -> None:
    record = make_record(sample_case, sample_letter)
    assert list(record) == ["id", "patient_id", "case", "prompt", "completion", "letter"]
    assert record["id"] == sample_case.case_id
    assert [m["role"] for m in record["prompt"]] == ["system", "user"]
    # the model learns the clinical body; the whole letter stays beside it for the evaluation
    body = record["completion"][0]["content"]
    assert record["completion"] == [{"role": "assistant", "content": body}]
    assert body.startswith("Diagnose:\nAdenokarzinom") and body.endswith("danach alle 3 Monate.")
    assert "Betr.:" not in body and "Sehr geehrter" not in body and "Grüßen" not in body
    assert record["letter"] == sample_letter
    assert "nur die Abschnitte 2 bis 7" in record["prompt"][0]["content"]
    assert case_from_record(record) == sample_case
    assert "50,4" in record["prompt"][1]["content"] or "50.4" in record["prompt"][1]["content"]


def test_without_the_scaffold_the_record_holds_the_whole_letter(sample_case: Case, sample_letter: str) -> None:
    record = make_record(sample_case, sample_letter, scaffold=False)
    assert list(record) == ["id", "patient_id", "case", "prompt", "completion"]
    assert record["completion"] == [{"role": "assistant", "content": sample_letter}]
    assert "8. Grußformel" in record["prompt"][0]["content"]


def test_a_letter_without_a_body_is_refused(sample_case: Case, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="pair 1: the letter has no body"):
        dataset_from_pairs([(sample_case, "Sehr geehrte Frau Kollegin,\n\nMit freundlichen Grüßen\n")], tmp_path)


def test_build_dataset_splits_by_patient_and_rebuilds_byte_identical(
    tmp_path: Path, sample_case: Case, sample_letter: str
) -> None:
    cohort = _write_cohort(tmp_path / "cohort", sample_case, sample_letter, patients=40)
    stats = build_dataset(cohort, tmp_path / "a")
    build_dataset(cohort, tmp_path / "b")
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name

    seen: dict[str, str] = {}
    total = 0
    for split in SPLITS:
        records = read_jsonl(tmp_path / "a" / f"{split}.jsonl")
        assert len(records) == stats.counts[split]
        total += len(records)
        for record in records:
            assert split_for(record["patient_id"]) == split
            assert seen.setdefault(record["patient_id"], split) == split
    assert total == 40
    assert all(stats.counts[s] > 0 for s in SPLITS)
    assert stats.tokens.startswith("estimate")
    assert 0 < stats.prompt.min <= stats.prompt.median <= stats.prompt.p95 <= stats.prompt.max
    assert stats.total.max == stats.prompt.max + stats.completion.max  # all letters equally long here
    assert json.loads((tmp_path / "a" / "stats.json").read_text())["counts"] == stats.counts


def test_patient_with_two_courses_stays_in_one_split(sample_case: Case, sample_letter: str, tmp_path: Path) -> None:
    pairs = [(_variant(sample_case, n, course), sample_letter) for n in range(30) for course in (1, 2)]
    dataset_from_pairs(pairs, tmp_path)
    where: dict[str, set[str]] = {}
    for split in SPLITS:
        for record in read_jsonl(tmp_path / f"{split}.jsonl"):
            where.setdefault(record["patient_id"], set()).add(split)
    assert len(where) == 30
    assert all(len(s) == 1 for s in where.values())


def test_over_length_records_are_kept_and_reported(sample_case: Case, sample_letter: str, tmp_path: Path) -> None:
    long_letter = sample_letter.replace("\nNachsorge:", "\nVerlauf: " + "Die Haut war gerötet. " * 600 + "\nNachsorge:")
    pairs = [(_variant(sample_case, n), long_letter if n in (3, 7) else sample_letter) for n in range(12)]
    stats = dataset_from_pairs(pairs, tmp_path, max_length=2500)
    assert sorted(stats.over_length) == ["synthetic:course-0003-1", "synthetic:course-0007-1"]
    assert sum(stats.counts.values()) == 12  # kept, not dropped
    text = stats.summary()
    assert "2 record(s) over max length 2500" in text
    assert "synthetic:course-0003-1" in text
    assert "median" in text and "p95" in text
    assert json.loads((tmp_path / "stats.json").read_text())["over_length"] == stats.over_length


def test_real_tokenizer_counts_with_its_chat_template(sample_case: Case, sample_letter: str, tmp_path: Path) -> None:
    class WordTokenizer:
        """A tokenizer stand-in with the two methods the dataset uses: one token per whitespace-separated word."""

        name_or_path = "words"
        chat_template = "words"

        def apply_chat_template(self, conversation, tokenize=True, add_generation_prompt=False):
            words = [w for m in conversation for w in (m["role"] + " " + m["content"]).split()]
            return {"input_ids": list(range(len(words) + (1 if add_generation_prompt else 0)))}

    stats = dataset_from_pairs([(sample_case, sample_letter)], tmp_path, tokenizer=WordTokenizer())
    assert stats.tokens == "tokenizer words"
    body = make_record(sample_case, sample_letter)["completion"][0]["content"]
    assert stats.completion.max == len(("assistant " + body).split()) - 1


def test_bad_cohort_inputs_name_the_file(sample_case: Case, sample_letter: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="manifest.json: not found"):
        read_cohort(tmp_path)
    cohort = _write_cohort(tmp_path / "c", sample_case, sample_letter, patients=2)
    (cohort / "P-0001" / "letter.txt").unlink()
    with pytest.raises(DatasetError, match="letter.txt: not found"):
        read_cohort(cohort)
    (cohort / "P-0000" / "case.json").write_text('{"case_id": "x"}')
    with pytest.raises(DatasetError, match="case.json: not a valid case"):
        read_cohort(cohort)
    with pytest.raises(DatasetError, match="pair 2: same case id as pair 1"):
        dataset_from_pairs([(sample_case, sample_letter), (sample_case, sample_letter)], tmp_path / "out")
    with pytest.raises(DatasetError, match="pair 1: the letter is empty"):
        dataset_from_pairs([(sample_case, "  \n")], tmp_path / "out")


def test_read_jsonl_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1}\n\n[1]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 3 is not a JSON object"):
        read_jsonl(path)
    path.write_text('{"id": 1}\n{"id": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 2 is not valid JSON"):
        read_jsonl(path)


def test_build_dataset_from_a_synthetic_cohort(tmp_path: Path) -> None:
    from rtletter.demo.cohort import write_cohort

    cohort = tmp_path / "cohort"
    write_cohort(cohort, n=20, seed=5, lang="de")
    stats = build_dataset(cohort, tmp_path / "data")
    assert sum(stats.counts.values()) == 20
    for split in SPLITS:
        for record in read_jsonl(tmp_path / "data" / f"{split}.jsonl"):
            folder = cohort / record["patient_id"]
            letter = (folder / "letter.txt").read_text(encoding="utf-8")
            assert record["letter"] == letter
            assert record["completion"][0]["content"] == split_letter(letter, "de").body.strip()
            assert case_from_record(record) == Case.model_validate_json((folder / "case.json").read_bytes())


def test_with_fact_slots_the_target_holds_slot_ids_that_fill_back_to_the_letters_body(tmp_path: Path) -> None:
    from rtletter.demo.cohort import write_cohort
    from rtletter.mappers.draft import finish_draft
    from rtletter.mappers.prompt import prompt_slot_ids

    cohort = tmp_path / "cohort"
    write_cohort(cohort, n=12, seed=5, lang="de")
    stats = build_dataset(cohort, tmp_path / "data", slots=True)
    records = [r for split in SPLITS for r in read_jsonl(tmp_path / "data" / f"{split}.jsonl")]
    assert stats.fact_slots and stats.slot_coverage["aligned"] > 10 * len(records)
    assert stats.slot_share is not None and stats.slot_share > 0.95
    assert "fact slots:" in stats.summary()
    for record in records:
        case, target = case_from_record(record), record["completion"][0]["content"]
        assert record["slots"] is True and "[dose_total." in target and "[date_" in target
        assert finish_draft(case, target, None, slots=True).letter == split_letter(record["letter"], "de").body.strip()
        written = {m.split("]")[0].split(":")[0] for m in target.split("[")[1:]}
        assert written <= (prompt_slot_ids(record["prompt"]) or set())  # every id the target writes is prompted
