from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rtletter.cli.dataset import dataset_app
from rtletter.cli.evaluate import eval_app, eval_command
from rtletter.mappers.case import Case

DATA = Path(__file__).parents[1] / "model" / "data"  # the model tests' sample case and letter


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(eval_app, name="review")
    return app


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    case = Case.model_validate_json((DATA / "case_rectum.json").read_bytes())
    letter = (DATA / "letter_rectum_de.txt").read_text(encoding="utf-8")
    root = tmp_path / "cohort"
    entries = []
    for n in range(30):
        item = case.model_copy(deep=True)
        item.case_id, item.patient.id = f"synthetic:course-{n}", f"P-{n:03d}"
        (root / item.patient.id).mkdir(parents=True)
        (root / item.patient.id / "case.json").write_text(item.model_dump_json(), encoding="utf-8")
        (root / item.patient.id / "letter.txt").write_text(letter, encoding="utf-8")
        entries.append({"patient_id": item.patient.id, "entity": "rectum"})
    (root / "manifest.json").write_text(json.dumps({"patients": entries}), encoding="utf-8")
    return root


def _ok(result) -> None:
    assert result.exit_code == 0, result.output


def _bad(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_dataset_build_then_eval_from_drafts_then_review_round_trip(app, cohort: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    build = ["dataset", "build", "--cohort", str(cohort), "--out", str(data), "--max-length", "900"]
    result = runner.invoke(app, build)
    _ok(result)
    assert "token lengths (estimate" in result.stdout and "p95" in result.stdout
    assert "over max length 900" in result.stdout
    test_records = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    assert test_records

    drafts = tmp_path / "drafts.jsonl"
    rows = [{"id": r["id"], "system": "finetuned", "text": r["completion"][0]["content"]} for r in test_records]
    rows += [{"id": r["id"], "system": "base", "text": "Sehr geehrte Damen und Herren."} for r in test_records]
    drafts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(
        app, ["eval", "--data", str(data / "test.jsonl"), "--drafts", str(drafts), "--out", str(tmp_path / "rep")]
    )
    _ok(result)
    assert "ROUGE-1" in result.stdout and (tmp_path / "rep" / "report.html").is_file()
    assert re.search(r"ROUGE-1 +0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", result.stdout)  # mean [95% interval]
    assert "## Paired comparisons" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")

    form = tmp_path / "form"
    _ok(runner.invoke(app, ["review", "form", "--data", str(data / "test.jsonl"), "--drafts", str(drafts),
                            "--out", str(form), "--system", "finetuned"]))  # fmt: skip
    sheet_rows = list(csv.DictReader(io.StringIO((form / "review.csv").read_text(encoding="utf-8"))))
    for row in sheet_rows:
        row.update(reviewer="Dr. A", correctness="4", completeness="3", style="4", clinical_benefit="3")
    sheet = tmp_path / "a.csv"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(sheet_rows[0]))
    writer.writeheader()
    writer.writerows(sheet_rows)
    sheet.write_text(buffer.getvalue(), encoding="utf-8")
    ratings = tmp_path / "ratings.json"
    result = runner.invoke(app, ["review", "import", str(sheet), "--form", str(form), "--out", str(ratings)])
    _ok(result)
    assert "clinical_benefit 3.00 ± 0.00" in result.stdout
    assert "  Dr. A: correctness 4.00" in result.stdout  # per reviewer
    assert "agreement (Krippendorff's alpha, ordinal): correctness -" in result.stdout  # one reviewer: undefined
    assert json.loads(ratings.read_text())["systems"]["finetuned"]["n_cases"] == len(test_records)

    result = runner.invoke(app, ["eval", "--data", str(data / "test.jsonl"), "--drafts", str(drafts),
                                 "--physician", str(ratings), "--out", str(tmp_path / "rep2")])  # fmt: skip
    _ok(result)
    assert "3.00 ± 0.00" in (tmp_path / "rep2" / "report.md").read_text(encoding="utf-8")


def test_bad_input_exits_2_with_one_line(app, cohort: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    _bad(runner.invoke(app, ["dataset", "build", "--cohort", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]),
         "manifest.json: not found")  # fmt: skip
    (cohort / "P-003" / "letter.txt").unlink()
    _bad(runner.invoke(app, ["dataset", "build", "--cohort", str(cohort), "--out", str(tmp_path / "o")]),
         "letter.txt: not found")  # fmt: skip

    data = tmp_path / "test.jsonl"
    _bad(runner.invoke(app, ["eval", "--data", str(data), "--drafts", str(data)]), "test.jsonl: not found")
    record = {"id": "a", "patient_id": "p", "case": json.loads((DATA / "case_rectum.json").read_text()),
              "prompt": [], "completion": [{"role": "assistant", "content": "x"}]}  # fmt: skip
    data.write_text(json.dumps(record) + "\n{broken\n", encoding="utf-8")
    _bad(runner.invoke(app, ["eval", "--data", str(data), "--drafts", str(data)]), "line 2 is not valid JSON")

    data.write_text(json.dumps(record) + "\n", encoding="utf-8")
    drafts = tmp_path / "drafts.jsonl"
    drafts.write_text(json.dumps({"id": "b", "system": "base", "text": "x"}) + "\n", encoding="utf-8")
    _bad(runner.invoke(app, ["eval", "--data", str(data), "--drafts", str(drafts), "--out", str(tmp_path / "r")]),
         "record 1 is for a case that is not in the data")  # fmt: skip
    _bad(runner.invoke(app, ["review", "form", "--data", str(data), "--drafts", str(drafts), "--out", str(tmp_path)]),
         "not in the data")  # fmt: skip
    _bad(runner.invoke(app, ["review", "import", str(drafts), "--form", str(tmp_path), "--out", str(tmp_path / "x")]),
         "items.json: not found")  # fmt: skip
    _bad(runner.invoke(app, ["eval", "--data", str(data), "--no-baseline"]), "give --adapter, --baseline or --drafts")
