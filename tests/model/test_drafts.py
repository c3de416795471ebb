"""``rtletter model generate``: a case file's drafts through a local backend, to files; bad input exits 2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from rtletter.mappers.scaffold import letter_scaffold


def test_generate_command_drafts_a_fhir_case_file(micro_adapter: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rtletter.cli.model import model_app
    from rtletter.demo.synth import generate_cohort

    patient = generate_cohort(1, 53, "de")[0]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(patient.bundle))
    out = tmp_path / "drafts"
    args = ["generate", str(bundle), "--adapter", str(micro_adapter), "--max-new-tokens", "8", "--out", str(out)]
    result = CliRunner().invoke(model_app, args)
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (out / "drafts.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["completion_tokens"] <= 8 and log[0]["prompt_tokens"] > 100
    (draft,) = out.glob("*.txt")
    # the model wrote a (short) body; the letter template wrote the rest around it
    head, tail = letter_scaffold(patient.case, letter_date=date.today())
    assert draft.read_text(encoding="utf-8").startswith(head + "\n\n")
    assert draft.read_text(encoding="utf-8").endswith("\n\n" + tail + "\n\n")
    assert log[0]["text"].startswith(head) and "truncated" in log[0]


def test_generate_command_bad_input_exits_2_with_one_line(tmp_path: Path, micro_base: Path) -> None:
    from typer.testing import CliRunner

    from rtletter.cli.model import model_app

    missing = CliRunner().invoke(model_app, ["generate", str(tmp_path / "none.json"), "--base", str(micro_base)])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "error:" in missing.output
    junk = tmp_path / "junk.json"
    junk.write_text("{not a bundle")
    bad = CliRunner().invoke(model_app, ["generate", str(junk), "--base", str(micro_base)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
