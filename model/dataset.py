"""(case, letter) pairs -> train/validation/test JSONL in TRL's conversational prompt-completion format.

One record per line::

    {"id": <case_id>, "patient_id": ..., "case": <Case JSON>,
     "prompt": [{"role": "system", "content": ...}, {"role": "user", "content": ...}],
     "completion": [{"role": "assistant", "content": <body>}], "letter": <the whole letter>}

The model learns only what it writes: the completion is the letter's clinical body (``rtletter.mappers.letter.
split_letter``: from the first section heading to before the closing), and the prompt asks for the body; the site's
letter template writes the rest (``rtletter.mappers.scaffold``). ``letter`` keeps the whole reference for the
evaluation's whole-letter scores. With ``scaffold=False`` the completion is the whole letter and there is no
``letter`` key (the layout before the scaffold).

The split is by patient (all courses of a patient land in one split) and depends only on a SHA-256 of the patient id,
so it is the same on every machine and for every cohort size. Output is deterministic byte for byte: records sorted by
(patient id, case id), JSON with fixed key order, no timestamps.

Over-length examples are kept and flagged, not dropped: ``stats.json`` and the printed summary give their count and
ids. Dropping is a training decision (the fine-tuning recipe may truncate or skip them), and a test set that quietly
loses its longest letters would flatter every score.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rtletter.mappers.case import Case
from rtletter.model.errors import DatasetError

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
# Percent of the hash space per split, in order: 80/10/10.
SPLIT_PERCENT: dict[Split, int] = {"train": 80, "validation": 10, "test": 10}
SPLIT_SALT = "rtletter-split-v1:"  # changing it reshuffles every patient; bump the version if you must
CHARS_PER_TOKEN = 3.5  # estimate for German/English letters with a Llama-3 style BPE when no tokenizer is given
DEFAULT_MAX_LENGTH = 4096

Record = dict[str, Any]


def split_for(patient_id: str) -> Split:
    """The split of a patient: a stable SHA-256 of the id mapped to 0..99 (never Python's salted ``hash()``)."""
    digest = hashlib.sha256((SPLIT_SALT + patient_id).encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    upper = 0
    for split in SPLITS:
        upper += SPLIT_PERCENT[split]
        if bucket < upper:
            return split
    return "test"


# --- records --------------------------------------------------------------------------------------------------------


def _messages(case: Case, scaffold: bool, slots: bool) -> list[dict[str, str]]:
    from rtletter.mappers.prompt import build_messages

    # Plain dicts: build_messages returns a list subclass carrying the budget, which JSON need not see.
    return [{"role": m["role"], "content": m["content"]} for m in build_messages(case, scaffold=scaffold, slots=slots)]


def letter_body(case: Case, letter: str) -> str:
    """The clinical body of a reference or signed letter: what the model writes when the site's template writes the
    head and the closing."""
    from rtletter.mappers.letter import split_letter

    return split_letter(letter, case.language).body.strip()


def make_record(case: Case, letter: str, *, scaffold: bool = True, slots: bool = False) -> Record:
    """One dataset record for a case and its (reference or signed) letter; with ``scaffold`` the completion is the
    letter's body and ``letter`` the whole letter. With ``slots`` the completion has slot ids in place of the case's
    values (``rtletter.mappers.slots.delexicalise``); ``slot_coverage`` counts the facts it states as slots
    (aligned) and as text it could not align (literal)."""
    target = letter_body(case, letter) if scaffold else letter
    record: Record = {
        "id": case.case_id,
        "patient_id": case.patient.id,
        "case": case.model_dump(mode="json"),
        "prompt": _messages(case, scaffold, slots),
        "completion": [{"role": "assistant", "content": target}],
    }
    if slots:
        from rtletter.mappers.slots import case_slots, delexicalise

        record["slots"] = True  # the evaluation fills drafts of this data (the mode the adapter learnt)
        result = delexicalise(target, case_slots(case), case.language)
        record["completion"][0]["content"] = result.text
        statuses = list(result.status.values())
        record["slot_coverage"] = {"aligned": statuses.count("aligned"), "literal": statuses.count("literal")}
    if scaffold:
        record["letter"] = letter
    return record


def case_from_record(record: Record) -> Case:
    """The Case of a record. Validated as JSON, not as Python data: in Python mode pydantic would read the date
    "2026-05-20" of ``Appointment.when`` (``datetime | date``) as a datetime."""
    return Case.model_validate_json(json.dumps(record["case"]))


# --- token lengths --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LengthSummary:
    min: int
    median: float
    p95: int
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> LengthSummary:
        if not values:
            return cls(0, 0.0, 0, 0)
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]  # nearest-rank percentile
        return cls(ordered[0], float(statistics.median(ordered)), p95, ordered[-1])


def _ids(encoded: Any) -> list[int]:
    # apply_chat_template returns a list of ids, or (transformers 5, return_dict) a BatchEncoding.
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    return list(encoded)


def _token_lengths(record: Record, tokenizer: Any | None) -> tuple[int, int]:
    """(prompt tokens, completion tokens) with the tokenizer's chat template, else an estimate from characters."""
    prompt, completion = record["prompt"], record["completion"]
    if tokenizer is None:
        prompt_chars = sum(len(m["content"]) for m in prompt)
        return math.ceil(prompt_chars / CHARS_PER_TOKEN), math.ceil(len(completion[0]["content"]) / CHARS_PER_TOKEN)
    if getattr(tokenizer, "chat_template", None):
        prompt_ids = _ids(tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True))
        full_ids = _ids(tokenizer.apply_chat_template(prompt + completion, tokenize=True))
        return len(prompt_ids), max(0, len(full_ids) - len(prompt_ids))
    prompt_text = "\n\n".join(m["content"] for m in prompt)
    return len(tokenizer.encode(prompt_text)), len(tokenizer.encode(completion[0]["content"], add_special_tokens=False))


@dataclass
class DatasetStats:
    counts: dict[str, int]
    patients: dict[str, int]
    tokens: str  # "tokenizer <name>" or "estimate (characters / 3.5)"
    max_length: int
    prompt: LengthSummary
    completion: LengthSummary
    total: LengthSummary
    over_length: list[str] = field(default_factory=list)  # ids of records longer than max_length (kept)
    warnings: list[str] = field(default_factory=list)
    fact_slots: bool = False
    slot_coverage: dict[str, int] = field(default_factory=dict)  # aligned / literal facts over all records

    @property
    def slot_share(self) -> float | None:
        """Facts the letters state that became slots (the rest stayed literal text); None without slots."""
        stated = sum(self.slot_coverage.values())
        return self.slot_coverage.get("aligned", 0) / stated if stated else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """Human-readable lines for the CLI."""
        lines = [
            "records: " + ", ".join(f"{s} {self.counts[s]} ({self.patients[s]} patients)" for s in SPLITS),
            f"token lengths ({self.tokens}):",
        ]
        for name in ("prompt", "completion", "total"):
            s: LengthSummary = getattr(self, name)
            lines.append(f"  {name:<10} min {s.min:>5}  median {s.median:>7.1f}  p95 {s.p95:>5}  max {s.max:>5}")
        if self.over_length:
            lines.append(
                f"{len(self.over_length)} record(s) over max length {self.max_length} tokens (kept, flagged in "
                f"stats.json): {', '.join(self.over_length)}"
            )
        else:
            lines.append(f"no record over max length {self.max_length} tokens")
        if self.fact_slots:
            share = self.slot_share
            lines.append(
                f"fact slots: {self.slot_coverage.get('aligned', 0)} facts in slots, "
                f"{self.slot_coverage.get('literal', 0)} left as text"
                + (f" (slot coverage {share:.1%})" if share is not None else "")
            )
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# --- writing --------------------------------------------------------------------------------------------------------


def _jsonl(records: Iterable[Record]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode("utf-8")


def _tokenizer_name(tokenizer: Any) -> str:
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    return f"tokenizer {Path(str(name)).name}"


def dataset_from_pairs(
    pairs: Iterable[tuple[Case, str]],
    out_dir: Path,
    *,
    tokenizer: Any | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    scaffold: bool = True,
    slots: bool = False,
) -> DatasetStats:
    """Write train/validation/test JSONL and stats.json for (case, letter) pairs, split by patient.

    Args:
        pairs: cases with their reference (or physician-signed) letters.
        out_dir: created if missing; the four files are overwritten.
        tokenizer: a transformers tokenizer for exact token counts (its chat template when it has one).
        max_length: prompt plus completion tokens above which a record is flagged.
        scaffold: train on the letters' bodies (the site's template writes the rest); False: on whole letters.
        slots: targets with slot ids in place of the case's values (``model.fact_slots``), prompts with the ids.

    Returns:
        The statistics also written to ``stats.json``.

    Raises:
        DatasetError: two pairs share a case id, a letter is empty, or (``scaffold``) a letter has no body.
    """
    records: dict[str, Record] = {}
    position: dict[str, int] = {}
    for number, (case, letter) in enumerate(pairs, start=1):
        # Messages give positions, not case ids: ids identify patients and error messages end up in logs.
        if not letter.strip():
            raise DatasetError(f"pair {number}: the letter is empty")
        if case.case_id in records:
            raise DatasetError(f"pair {number}: same case id as pair {position[case.case_id]}")
        record = make_record(case, letter, scaffold=scaffold, slots=slots)
        if not record["completion"][0]["content"]:
            raise DatasetError(f"pair {number}: the letter has no body between its head and its closing")
        records[case.case_id] = record
        position[case.case_id] = number
    ordered = sorted(records.values(), key=lambda r: (r["patient_id"], r["id"]))

    by_split: dict[Split, list[Record]] = {s: [] for s in SPLITS}
    for record in ordered:
        by_split[split_for(record["patient_id"])].append(record)

    prompt_lengths, completion_lengths, totals, over = [], [], [], []
    for record in ordered:
        prompt_tokens, completion_tokens = _token_lengths(record, tokenizer)
        prompt_lengths.append(prompt_tokens)
        completion_lengths.append(completion_tokens)
        totals.append(prompt_tokens + completion_tokens)
        if prompt_tokens + completion_tokens > max_length:
            over.append(record["id"])

    warnings = [f"the {s} split is empty" for s in SPLITS if not by_split[s]]
    stats = DatasetStats(
        counts={s: len(by_split[s]) for s in SPLITS},
        patients={s: len({r["patient_id"] for r in by_split[s]}) for s in SPLITS},
        tokens=_tokenizer_name(tokenizer) if tokenizer is not None else f"estimate (characters / {CHARS_PER_TOKEN})",
        max_length=max_length,
        prompt=LengthSummary.of(prompt_lengths),
        completion=LengthSummary.of(completion_lengths),
        total=LengthSummary.of(totals),
        over_length=over,
        warnings=warnings,
        fact_slots=slots,
        slot_coverage={
            key: sum(r.get("slot_coverage", {}).get(key, 0) for r in ordered) for key in ("aligned", "literal")
        }
        if slots
        else {},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out_dir / f"{split}.jsonl").write_bytes(_jsonl(by_split[split]))
    (out_dir / "stats.json").write_text(
        json.dumps(stats.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stats


# --- cohort folders -------------------------------------------------------------------------------------------------


def read_cohort(cohort_dir: Path) -> list[tuple[Case, str]]:
    """(case, reference letter) pairs of a cohort folder written by ``rtletter synth``, in manifest order.

    Raises:
        DatasetError: missing manifest, patient folder, case.json or letter.txt, or an invalid case.json.
    """
    from pydantic import ValidationError

    manifest_path = cohort_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = manifest["patients"]
    except FileNotFoundError:
        raise DatasetError(f"{manifest_path}: not found (is this a folder written by `rtletter synth`?)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{manifest_path}: not a cohort manifest ({type(exc).__name__})") from None
    pairs = []
    for entry in entries:
        folder = cohort_dir / str(entry["patient_id"])
        case_path, letter_path = folder / "case.json", folder / "letter.txt"
        try:
            case = Case.model_validate_json(case_path.read_bytes())
            letter = letter_path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise DatasetError(f"{exc.filename}: not found") from None
        except ValidationError as exc:
            # pydantic's message would quote values (PHI); name the file and the first bad location only.
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise DatasetError(f"{case_path}: not a valid case (at {where})") from None
        pairs.append((case, letter))
    return pairs


def build_dataset(
    cohort_dir: Path,
    out_dir: Path,
    *,
    tokenizer: Any | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    scaffold: bool = True,
    slots: bool = False,
) -> DatasetStats:
    """Read a synthetic cohort folder and write its dataset; see ``dataset_from_pairs``."""
    return dataset_from_pairs(
        read_cohort(cohort_dir), out_dir, tokenizer=tokenizer, max_length=max_length, scaffold=scaffold, slots=slots
    )


def read_jsonl(path: Path) -> list[Record]:
    """Records of a dataset (or drafts) JSONL file.

    Raises:
        DatasetError: the file is missing or a line is not a JSON object (the message gives the line number).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records
