"""Signed letters back into training: (case, signed final text) pairs -> the model's dataset format.

``export_signed`` writes train/validation/test JSONL and stats.json exactly as ``rtletter dataset build`` does
(``rtletter.model.dataset.dataset_from_pairs``: split by patient, deterministic), so the next fine-tuning run takes
it as is. The completion is the body of the text the physician signed (the whole signed letter rides along as
``letter``), not the draft: the model learns the corrections to what it writes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rtletter.agent.jobs.store import JobStore
from rtletter.agent.review.store import review_store
from rtletter.mappers.case import Case
from rtletter.model.dataset import DatasetStats, dataset_from_pairs


def signed_pairs(store: JobStore, *, since: datetime | None = None) -> list[tuple[Case, str]]:
    """(case, signed text) of every signed job (decided since ``since``), oldest signature first."""
    pairs = []
    for pair in review_store(store).decided(outcome="signed"):
        if since is not None and pair.decided_at < since:
            continue
        if pair.case_json and pair.final_text and pair.final_text.strip():
            pairs.append((Case.model_validate_json(pair.case_json), pair.final_text))
    return pairs


def export_signed(
    store: JobStore,
    out_dir: Path,
    *,
    actor: str,
    since: datetime | None = None,
    tokenizer: Any | None = None,
    max_length: int = 4096,
    slots: bool = False,
) -> DatasetStats:
    """Write the fine-tuning set of signed letters to ``out_dir`` (``slots``: delexicalised by the same aligner as the
    synthetic letters); audited as a read of patient data."""
    pairs = signed_pairs(store, since=since)
    stats = dataset_from_pairs(pairs, out_dir, tokenizer=tokenizer, max_length=max_length, slots=slots)
    store.audit(actor, "read", "job", "signed", f"signed letters exported for fine-tuning ({len(pairs)})")
    return stats
