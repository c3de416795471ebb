"""Physician review: export blinded per-case sheets, import the filled ones, aggregate mean ± sd per criterion.

``export_forms`` writes into a folder:
- ``review.html``: one self-contained page with every draft to review (the case's key data, the draft, radio buttons
  for the four criteria and a comment box; a button saves the filled sheet as CSV, no server needed);
- ``review.csv``: the same sheet as a spreadsheet template (one row per item, scores empty);
- ``items.json``: the key from blinded item ids (``R01``, ``R02``, ...) to case id and system. Reviewers see items
  in a shuffled (seeded) order and never the system name, so base and fine-tuned drafts are rated blind.

``import_sheets`` reads filled CSV sheets, validates them (scores are integers 1-4, every item id known, a reviewer
name on every row, no item rated twice by one reviewer) and aggregates per system: mean ± sd per criterion, number
of cases, reviewers and ratings; each reviewer's own means; and the reviewers' agreement per criterion as
Krippendorff's alpha (ordinal metric: the 1-4 scale is ranked, not evenly spaced), per system and over all items.
The study reported clinical benefit 3.4 of 4 over 10 cases.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import statistics
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from rtletter.model.dataset import Record, case_from_record
from rtletter.model.evaluate.scores import Draft, EvaluationError, match_drafts, order_systems
from rtletter.model.evaluate.stats import Metric, krippendorff_alpha

CRITERIA: dict[str, str] = {
    "correctness": "Correctness: every statement matches the patient's data",
    "completeness": "Completeness: nothing the referring physician needs is missing",
    "style": "Style: reads like a letter of our department",
    "clinical_benefit": "Clinical benefit: the draft saves work and can be signed after light editing",
}
SCALE: dict[int, str] = {1: "poor", 2: "fair", 3: "good", 4: "very good"}
COLUMNS: tuple[str, ...] = ("item", "case_id", "reviewer", *CRITERIA, "comment")
SHUFFLE_SALT = "rtletter-review-v1:"


def _items(records: Sequence[Record], drafts: Sequence[Draft], systems: Sequence[str] | None) -> list[dict[str, Any]]:
    chosen = [d for d in drafts if systems is None or d.system in systems]
    if not chosen:
        raise EvaluationError("no drafts of the chosen systems")
    order = {r["id"]: n for n, r in enumerate(records)}
    # A seeded, content-independent shuffle: the order does not reveal the system, and reruns give the same sheet.
    chosen.sort(key=lambda d: hashlib.sha256(f"{SHUFFLE_SALT}{d.id}\0{d.system}".encode()).hexdigest())
    return [
        {"item": f"R{n:02d}", "case_id": d.id, "system": d.system, "record": order[d.id], "text": d.text}
        for n, d in enumerate(chosen, start=1)
    ]


def _case_summary(record: Record) -> str:
    case = case_from_record(record)
    dx = case.primary_diagnosis
    lines = []
    if dx:
        lines.append(" ".join(p for p in (dx.code.code if dx.code else None, dx.text) if p))
    course = case.course
    lines.append(f"course {course.status.value}, {course.start or '?'} – {course.end or '?'}")
    for volume in course.volumes:
        dose = f"{volume.total_dose_gy} Gy" if volume.total_dose_gy is not None else "?"
        fractions = f"/{volume.fractions_delivered} fx" if volume.fractions_delivered else ""
        lines.append(f"{volume.name}: {dose}{fractions}")
    return "\n".join(lines)


_SCRIPT = """
function saveCsv(){
 const cols=%(columns)s, rows=[cols.join(',')], who=document.getElementById('reviewer').value.trim();
 if(!who){alert('Please enter your name.');return;}
 const q=s=>'"'+String(s).replace(/"/g,'""')+'"';
 document.querySelectorAll('section.item').forEach(sec=>{
  const id=sec.dataset.item, row=[id,sec.dataset.case,who];
  %(criteria)s.forEach(c=>{const r=sec.querySelector('input[name="'+id+'-'+c+'"]:checked');row.push(r?r.value:'');});
  row.push(sec.querySelector('textarea').value);rows.push(row.map(q).join(','));});
 const a=document.createElement('a');
 a.href='data:text/csv;charset=utf-8,'+encodeURIComponent(rows.join('\\n')+'\\n');
 a.download='review-'+who.replace(/[^A-Za-z0-9_-]/g,'_')+'.csv';a.click();}
"""


def render_form(records: Sequence[Record], items: Sequence[dict[str, Any]]) -> str:
    """The review page: self-contained (inline style and script, no external URL)."""
    sections = []
    for item in items:
        record = records[item["record"]]
        scales = []
        for criterion, question in CRITERIA.items():
            radios = "".join(
                f'<label><input type="radio" name="{item["item"]}-{criterion}" value="{v}"> {v} {html.escape(label)}'
                "</label> "
                for v, label in SCALE.items()
            )
            scales.append(f"<p><b>{html.escape(question)}</b><br>{radios}</p>")
        sections.append(
            f'<section class="item" data-item="{item["item"]}" data-case="{html.escape(item["case_id"])}">'
            f"<h2>{item['item']} <small>case {html.escape(item['case_id'])}</small></h2>"
            f"<h3>Case data</h3><pre>{html.escape(_case_summary(record))}</pre>"
            f"<h3>Draft</h3><pre>{html.escape(item['text'])}</pre>{''.join(scales)}"
            '<p><b>Comment</b><br><textarea rows="3" cols="100"></textarea></p></section>'
        )
    script = _SCRIPT % {"columns": json.dumps(list(COLUMNS)), "criteria": json.dumps(list(CRITERIA))}
    return (
        '<!DOCTYPE html>\n<html lang="de"><head><meta charset="utf-8"><title>rtletter review sheet</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
        "pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:.6em}"
        "section{border-top:2px solid #888;margin-top:2em}</style>"
        f"<script>{script}</script></head><body><h1>Review of draft letters</h1>"
        "<p>Rate each draft on a 4-point scale (1 poor, 2 fair, 3 good, 4 very good). Drafts are in random order and "
        "do not say which system wrote them. Save the sheet as CSV at the end and send it back; or fill review.csv.</p>"
        '<p>Reviewer: <input id="reviewer" size="30"></p>'
        f"{''.join(sections)}"
        '<p><button onclick="saveCsv()">Save filled sheet as CSV</button></p></body></html>\n'
    )


def export_forms(
    records: Sequence[Record], drafts: Sequence[Draft], out_dir: Path, *, systems: Sequence[str] | None = None
) -> Path:
    """Write review.html, review.csv and items.json for the drafts of ``systems`` (all when None).

    Raises:
        EvaluationError: drafts that do not match the records, or no drafts of the chosen systems.
    """
    match_drafts(records, drafts)
    items = _items(records, drafts, systems)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "review.html").write_text(render_form(records, items), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow([item["item"], item["case_id"], "", *([""] * len(CRITERIA)), ""])
    (out_dir / "review.csv").write_text(buffer.getvalue(), encoding="utf-8")
    key = {item["item"]: {"case_id": item["case_id"], "system": item["system"]} for item in items}
    (out_dir / "items.json").write_text(json.dumps(key, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir


# --- import ---------------------------------------------------------------------------------------------------------


def _read_sheet(path: Path, key: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets like to add a BOM
    except FileNotFoundError:
        raise EvaluationError(f"{path}: not found") from None
    except UnicodeDecodeError:
        raise EvaluationError(f"{path}: not UTF-8 text (save the sheet as CSV UTF-8)") from None
    # Spreadsheets in German locales save with ";"; sniff between the two.
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    missing = [c for c in ("item", "reviewer", *CRITERIA) if c not in (reader.fieldnames or [])]
    if missing:
        raise EvaluationError(f"{path}: missing column(s) {', '.join(missing)}")
    ratings = []
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for value in row.values()):
            continue
        item = (row["item"] or "").strip()
        if item not in key:
            raise EvaluationError(f"{path}: line {line}: unknown item {item!r} (not in items.json)")
        if row.get("case_id") and row["case_id"].strip() != key[item]["case_id"]:
            raise EvaluationError(f"{path}: line {line}: case id does not match item {item} in items.json")
        reviewer = (row["reviewer"] or "").strip()
        if not reviewer:
            raise EvaluationError(f"{path}: line {line}: no reviewer name")
        scores: dict[str, int] = {}
        for criterion in CRITERIA:
            raw = (row[criterion] or "").strip()
            if raw not in ("1", "2", "3", "4"):
                raise EvaluationError(f"{path}: line {line}: {criterion} must be 1, 2, 3 or 4, not {raw!r}")
            scores[criterion] = int(raw)
        ratings.append({"item": item, "reviewer": reviewer, "scores": scores, "comment": (row.get("comment") or "")})
    return ratings


def _stats(values: list[int]) -> dict[str, float | int]:
    if not values:
        return {"mean": 0.0, "sd": 0.0, "n": 0}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "sd": round(sd, 4), "n": len(values)}


AGREEMENT_METRIC: Metric = "ordinal"


def _agreement(ratings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Krippendorff's alpha per criterion over the items in ``ratings``; None where undefined (fewer than two
    ratings on every item, or no variation at all)."""
    out = {}
    for criterion in CRITERIA:
        units: dict[Hashable, list[int]] = {}
        for r in ratings:
            units.setdefault(r["item"], []).append(r["scores"][criterion])
        alpha = krippendorff_alpha(units, AGREEMENT_METRIC)
        pairable = sum(1 for values in units.values() if len(values) >= 2)
        out[criterion] = {"alpha": None if alpha is None else round(alpha, 4), "items": pairable}
    return out


def _per_reviewer(ratings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        reviewer: {
            "criteria": {
                c: round(statistics.fmean(r["scores"][c] for r in ratings if r["reviewer"] == reviewer), 4)
                for c in CRITERIA
            },
            "n_ratings": sum(1 for r in ratings if r["reviewer"] == reviewer),
        }
        for reviewer in sorted({r["reviewer"] for r in ratings})
    }


def import_sheets(sheets: Sequence[Path], form_dir: Path) -> dict[str, Any]:
    """Aggregate filled sheets against the key in ``form_dir/items.json``.

    Returns:
        ``{"systems": {system: {"criteria": {criterion: {"mean", "sd", "n"}}, "n_cases", "n_reviewers",
        "n_ratings", "per_reviewer": {reviewer: {"criteria": {criterion: mean}, "n_ratings"}}, "agreement":
        {criterion: {"alpha", "items"}}}}, "agreement": {"metric": "ordinal", "criteria": {criterion: {"alpha",
        "items"}}}, "reviewers": [...], "sheets": n, "comments": [{"item", "case_id", "system", "reviewer",
        "comment"}]}``; sd is the sample standard deviation over all ratings (0 for a single rating); alpha is
        Krippendorff's (None where undefined), "items" the number of items rated by two or more reviewers.

    Raises:
        EvaluationError: missing key or sheet, bad column, score or item, a reviewer rating an item twice.
    """
    key_path = form_dir / "items.json"
    try:
        key = json.loads(key_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{key_path}: not found (the folder written by `rtletter eval form`)") from None
    except json.JSONDecodeError:
        raise EvaluationError(f"{key_path}: not valid JSON") from None
    if not sheets:
        raise EvaluationError("no sheets given")
    ratings: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sheet in sheets:
        for rating in _read_sheet(sheet, key):
            pair = (rating["reviewer"], rating["item"])
            if pair in seen:
                raise EvaluationError(f"{sheet}: reviewer rates item {rating['item']} more than once")
            seen.add(pair)
            ratings.append(rating)
    if not ratings:
        raise EvaluationError("the sheets hold no ratings")
    systems: dict[str, Any] = {}
    for system in order_systems(key[r["item"]]["system"] for r in ratings):
        mine = [r for r in ratings if key[r["item"]]["system"] == system]
        systems[system] = {
            "criteria": {c: _stats([r["scores"][c] for r in mine]) for c in CRITERIA},
            "n_cases": len({key[r["item"]]["case_id"] for r in mine}),
            "n_reviewers": len({r["reviewer"] for r in mine}),
            "n_ratings": len(mine),
            "per_reviewer": _per_reviewer(mine),
            "agreement": _agreement(mine),
        }
    comments = [
        {"item": r["item"], **key[r["item"]], "reviewer": r["reviewer"], "comment": r["comment"].strip()}
        for r in ratings
        if r["comment"].strip()
    ]
    return {
        "systems": systems,
        "agreement": {"metric": AGREEMENT_METRIC, "criteria": _agreement(ratings)},
        "reviewers": sorted({r["reviewer"] for r in ratings}),
        "sheets": len(sheets),
        "comments": comments,
    }
