from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from rtletter.mappers.case import Case
from rtletter.model.dataset import make_record
from rtletter.model.evaluate.physician import CRITERIA, export_forms, import_sheets
from rtletter.model.evaluate.scores import Draft, EvaluationError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    case = Case.model_validate_json((DATA / "case_rectum.json").read_bytes())
    letter = (DATA / "letter_rectum_de.txt").read_text(encoding="utf-8")
    out = []
    for n in range(10):
        item = case.model_copy(deep=True)
        item.case_id = f"synthetic:course-{n}"
        item.patient.id = f"P-{n}"
        out.append(make_record(item, letter))
    return out


@pytest.fixture(scope="module")
def drafts(records: list[dict]) -> list[Draft]:
    return [Draft(r["id"], "finetuned", r["completion"][0]["content"]) for r in records] + [
        Draft(r["id"], "base", "Sehr geehrte Damen und Herren, <b>Bericht</b> folgt.") for r in records
    ]


def _fill(form: Path, reviewer: str, scores: dict[str, dict[str, int]], target: Path) -> Path:
    """Fill review.csv as a reviewer would: per item the scores for its system (looked up in the key)."""
    key = json.loads((form / "items.json").read_text())
    rows = list(csv.DictReader(io.StringIO((form / "review.csv").read_text(encoding="utf-8"))))
    for row in rows:
        row["reviewer"] = reviewer
        row.update({c: str(v) for c, v in scores[key[row["item"]]["system"]].items()})
        row["comment"] = "Dosis korrekt; gut lesbar" if key[row["item"]]["system"] == "finetuned" else ""
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_export_is_blind_self_contained_and_complete(tmp_path: Path, records, drafts) -> None:
    form = export_forms(records, drafts, tmp_path / "form")
    page = (form / "review.html").read_text(encoding="utf-8")
    key = json.loads((form / "items.json").read_text())
    assert len(key) == 20
    assert {v["system"] for v in key.values()} == {"base", "finetuned"}
    assert "finetuned" not in page and "fine-tuned" not in page  # blinded
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "&lt;b&gt;Bericht&lt;/b&gt;" in page  # draft text is escaped
    assert page.count('type="radio"') == 20 * len(CRITERIA) * 4
    rows = list(csv.DictReader(io.StringIO((form / "review.csv").read_text(encoding="utf-8"))))
    assert [r["item"] for r in rows] == sorted(key)
    # order does not follow the data: items do not alternate system by case
    systems = [key[r["item"]]["system"] for r in rows]
    assert systems != ["finetuned"] * 10 + ["base"] * 10
    export_forms(records, drafts, tmp_path / "again")
    assert (tmp_path / "again" / "items.json").read_bytes() == (form / "items.json").read_bytes()


def test_round_trip_aggregates_mean_and_sd(tmp_path: Path, records, drafts) -> None:
    form = export_forms(records, drafts, tmp_path / "form")
    high = {"correctness": 4, "completeness": 3, "style": 4, "clinical_benefit": 4}
    low = {"correctness": 2, "completeness": 1, "style": 2, "clinical_benefit": 1}
    a = _fill(form, "Dr. A", {"finetuned": high, "base": low}, tmp_path / "a.csv")
    b = _fill(form, "Dr. B", {"finetuned": {**high, "clinical_benefit": 3}, "base": low}, tmp_path / "b.csv")
    result = import_sheets([a, b], form)
    tuned = result["systems"]["finetuned"]
    assert tuned["n_cases"] == 10 and tuned["n_reviewers"] == 2 and tuned["n_ratings"] == 20
    benefit = tuned["criteria"]["clinical_benefit"]
    assert benefit["mean"] == pytest.approx(3.5)
    assert benefit["sd"] == pytest.approx(0.5130, abs=1e-4)  # sample sd of ten 4s and ten 3s
    assert tuned["criteria"]["correctness"] == {"mean": 4.0, "sd": 0.0, "n": 20}
    assert result["systems"]["base"]["criteria"]["completeness"]["mean"] == pytest.approx(1.0)
    assert list(result["systems"]) == ["base", "finetuned"]
    assert result["reviewers"] == ["Dr. A", "Dr. B"]
    assert len(result["comments"]) == 20 and result["comments"][0]["system"] == "finetuned"
    # each reviewer's means beside the pooled one
    assert tuned["per_reviewer"]["Dr. A"]["criteria"]["clinical_benefit"] == 4.0
    assert tuned["per_reviewer"]["Dr. B"]["criteria"]["clinical_benefit"] == 3.0
    assert tuned["per_reviewer"]["Dr. B"]["n_ratings"] == 10
    # Agreement, ordinal alpha. Fine-tuned clinical benefit: every item rated (4, 3), a systematic disagreement:
    # o34 = o43 = 10, n3 = n4 = 10, n = 20, so alpha = 1 - 19 * 20 / (2 * 10 * 10) = -0.9 (delta cancels).
    assert tuned["agreement"]["clinical_benefit"] == {"alpha": -0.9, "items": 10}
    assert tuned["agreement"]["correctness"]["alpha"] is None  # all 4: no variation, undefined
    # Over all items, clinical benefit: base items (1, 1), fine-tuned (4, 3). n1 = 20, n3 = n4 = 10, n = 40.
    # Ordinal deltas: d13 = (30 - 15)^2 = 225, d14 = (40 - 15)^2 = 625, d34 = (20 - 10)^2 = 100.
    # alpha = 1 - 39 * (2 * 10 * 100) / (2 * (20*10*225 + 20*10*625 + 10*10*100)) = 1 - 78000 / 360000 = 47/60.
    overall = result["agreement"]
    assert overall["metric"] == "ordinal"
    assert overall["criteria"]["clinical_benefit"] == {"alpha": pytest.approx(47 / 60, abs=1e-4), "items": 20}
    assert overall["criteria"]["correctness"]["alpha"] == 1.0  # the two agree on every item


def _rewrite(path: Path, edit) -> None:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    edit(rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[2].update(style="5"), r"line 4: style must be 1, 2, 3 or 4, not '5'"),
        (lambda rows: rows[0].update(correctness=""), r"line 2: correctness must be"),
        (lambda rows: rows[1].update(item="R99"), r"line 3: unknown item 'R99'"),
        (lambda rows: rows[0].update(reviewer=" "), r"line 2: no reviewer name"),
        (lambda rows: rows[0].update(case_id="other"), r"line 2: case id does not match item R01"),
    ],
)
def test_import_rejects_bad_sheets(tmp_path: Path, records, drafts, edit, message) -> None:
    form = export_forms(records, drafts, tmp_path / "form")
    scores = {c: 3 for c in CRITERIA}
    sheet = _fill(form, "Dr. A", {"finetuned": scores, "base": scores}, tmp_path / "a.csv")
    _rewrite(sheet, edit)
    with pytest.raises(EvaluationError, match=message):
        import_sheets([sheet], form)


def test_import_rejects_double_ratings_and_missing_key(tmp_path: Path, records, drafts) -> None:
    form = export_forms(records, drafts, tmp_path / "form")
    scores = {c: 3 for c in CRITERIA}
    sheet = _fill(form, "Dr. A", {"finetuned": scores, "base": scores}, tmp_path / "a.csv")
    with pytest.raises(EvaluationError, match="more than once"):
        import_sheets([sheet, sheet], form)
    with pytest.raises(EvaluationError, match="items.json: not found"):
        import_sheets([sheet], tmp_path)


def test_import_reads_semicolon_sheets_from_german_spreadsheets(tmp_path: Path, records, drafts) -> None:
    form = export_forms(records, drafts, tmp_path / "form", systems=["finetuned"])
    scores = {c: 4 for c in CRITERIA}
    sheet = _fill(form, "Dr. A", {"finetuned": scores}, tmp_path / "a.csv")
    rows = list(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    sheet.write_text("\ufeff" + "\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
    result = import_sheets([sheet], form)
    assert list(result["systems"]) == ["finetuned"]
    assert result["systems"]["finetuned"]["n_cases"] == 10
