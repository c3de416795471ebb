"""write_cohort and ``rtletter synth``: the cohort folder layout, the manifest, byte-for-byte determinism."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rtletter.cli import app
from rtletter.demo.cohort import FILES, write_cohort
from rtletter.mappers.case import Case


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_cohort_layout_and_manifest(tmp_path: Path) -> None:
    summary = write_cohort(tmp_path, n=16, seed=3, lang="de")
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["seed"], manifest["n"], manifest["lang"]) == (3, 16, "de")
    assert len(manifest["patients"]) == 16
    for entry in manifest["patients"]:
        folder = tmp_path / entry["patient_id"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
        case = Case.model_validate_json((folder / "case.json").read_text(encoding="utf-8"))
        assert case.patient.id == entry["patient_id"] and case.course.status.value == entry["status"]
        assert entry["entity"]
        letter = (folder / "letter.txt").read_text(encoding="utf-8")
        assert case.patient.family and case.patient.family in letter
        assert json.loads((folder / "bundle.json").read_text(encoding="utf-8"))["resourceType"] == "Bundle"
        assert (folder / "course.hl7").read_bytes().startswith(b"MSH|")
    entities = {e["entity"] for e in manifest["patients"]}
    assert len(entities) == 14
    assert "16 synthetic patients" in summary and "14 entities" in summary
    for entity in entities:
        assert entity in summary


def test_write_cohort_is_byte_for_byte_deterministic(tmp_path: Path) -> None:
    write_cohort(tmp_path / "a", n=8, seed=4, lang="en")
    write_cohort(tmp_path / "b", n=8, seed=4, lang="en")
    write_cohort(tmp_path / "c", n=8, seed=5, lang="en")
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a["manifest.json"] != c["manifest.json"]
    letters_a = [v for k, v in a.items() if k.endswith("letter.txt")]
    letters_c = [v for k, v in c.items() if k.endswith("letter.txt")]
    assert letters_a != letters_c


def test_synth_command_writes_the_cohort(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--n", "3", "--seed", "2", "--lang", "de", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 synthetic patients" in result.output
    assert len(json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["patients"]) == 3


def test_synth_command_rejects_unknown_language(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--n", "1", "--lang", "fr", "--out", str(tmp_path)])
    assert result.exit_code == 2
