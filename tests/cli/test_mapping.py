"""The ``case`` and ``prompt`` commands, run as the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NAME = "Erika Mustermann"  # synthetic PHI planted in hostile inputs; it must never reach stderr
SCRIPT = Path(sys.executable).parent / "rtletter"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "rtletter.cli"]


def _run_many(*argvs: list[str], stdin: bytes | None = None) -> list[subprocess.CompletedProcess[bytes]]:
    """Start every command at once (each is mostly interpreter start-up), then collect them in order."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""}  # UTF-8 output must not need a locale
    procs = [
        subprocess.Popen(
            [*COMMAND, *argv],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for argv in argvs
    ]
    results = []
    for proc, argv in zip(procs, argvs, strict=True):
        out, err = proc.communicate(stdin, timeout=120)
        results.append(subprocess.CompletedProcess([*COMMAND, *argv], proc.returncode, out, err))
    return results


def _run(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return _run_many(list(argv), stdin=stdin)[0]


def _assert_one_line_error(result: subprocess.CompletedProcess[bytes], *words: str) -> str:
    err = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode == 2, (result.args, result.returncode, err)
    assert result.stdout == b""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert NAME not in err and "Mustermann" not in err
    return lines[0]


# --- external fixtures ----------------------------------------------------------------------------------------------


# Every fixture is mapped in-process by tests/mappers/test_load.py; here a few go through the real script.
FHIR_SAMPLES = (
    "xrts-01-prostate-1p-1v.json",
    "xrts-05-brainmets-1p-1v-2c.json",
    "mcode-rt-course-summary-other-with-text.json",
)
V2_SAMPLES = ("msft-ORU-R01-01.hl7", "python-hl7-sample_batch-ADT_A04.hl7", "v2tofhir-Message.hl7_MDM_T02.txt")


def test_case_prints_json_for_external_fhir_bundles(external_dir: Path) -> None:
    files = [external_dir / "fhir" / name for name in FHIR_SAMPLES]
    for path, result in zip(files, _run_many(*(["case", str(p)] for p in files)), strict=True):
        assert result.returncode == 0, (path.name, result.stderr.decode())
        cases = json.loads(result.stdout.decode("utf-8"))
        assert isinstance(cases, list) and cases, path.name
        for item in cases:
            assert item["source_kind"] == "fhir" and item["course"]["id"] and item["case_id"]


def test_prompt_for_an_external_fhir_bundle_is_a_llama3_chat(external_dir: Path) -> None:
    path = external_dir / "fhir" / "xrts-01-prostate-1p-1v.json"
    result, english, from_stdin, as_json = _run_many(
        ["prompt", str(path)],
        ["prompt", "--lang", "en", str(path)],
        ["prompt", "-"],
        ["prompt", "--messages", str(path)],
        stdin=path.read_bytes(),
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode("utf-8")
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
    assert text.rstrip("\n").endswith("<|start_header_id|>assistant<|end_header_id|>")
    assert "Abschlussbericht" in text and "C61" in text and " Gy" in text
    assert english.returncode == 0 and "end-of-treatment letter" in english.stdout.decode("utf-8")
    assert from_stdin.returncode == 0 and from_stdin.stdout == result.stdout
    messages = json.loads(as_json.stdout.decode("utf-8"))
    assert [m["role"] for m in messages[0]] == ["system", "user"]


def test_case_and_prompt_map_external_hl7v2_messages(external_dir: Path) -> None:
    files = [external_dir / "hl7v2" / name for name in V2_SAMPLES]
    *results, prompt = _run_many(*(["case", str(p)] for p in files), ["prompt", str(files[0])])
    for path, result in zip(files, results, strict=True):
        assert result.returncode == 0, (path.name, result.stderr.decode())
        cases = json.loads(result.stdout.decode("utf-8"))
        assert cases and all(c["source_kind"] == "hl7v2" for c in cases), path.name
    assert prompt.returncode == 0 and prompt.stdout.startswith(b"<|begin_of_text|>")
    assert b"Huckleberry Finn" in prompt.stdout  # PID-5 of the sample, rendered into the facts block


# --- bad input: exit 2, one line, no traceback, no PHI -------------------------------------------------------------


def test_missing_file_directory_and_empty_file_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    missing, directory, empty_result, prompt_missing = _run_many(
        ["case", str(tmp_path / "nope.json")],
        ["case", str(tmp_path)],
        ["case", str(empty)],
        ["prompt", str(tmp_path / "nope.hl7")],
    )
    _assert_one_line_error(missing, "cannot read", "No such file")
    _assert_one_line_error(directory, "cannot read", "Is a directory")
    _assert_one_line_error(empty_result, "empty input", "expected a FHIR JSON Bundle or an HL7 v2 message")
    _assert_one_line_error(prompt_missing, "No such file")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "locked.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0)
    _assert_one_line_error(_run("case", str(path)), "Permission denied")


def test_binary_utf16_and_huge_input_exit_2(tmp_path: Path) -> None:
    png = tmp_path / "scan.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + NAME.encode() + bytes(range(256)))
    utf16 = tmp_path / "bundle.json"
    utf16.write_bytes(json.dumps({"resourceType": "Bundle", "name": NAME}).encode("utf-16"))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as stream:
        stream.write(b"{")
        stream.truncate(33 * 1024 * 1024)
    results = _run_many(["case", str(png)], ["prompt", str(utf16)], ["case", str(huge)])
    _assert_one_line_error(results[0], "neither JSON nor HL7 v2")
    _assert_one_line_error(results[1], "UTF-16")
    _assert_one_line_error(results[2], "larger than 32 MiB")


def test_bad_options_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}", encoding="utf-8")
    _assert_one_line_error(_run("case", "--lang", "fr", str(path)), "--lang must be de or en")


def test_malformed_fhir_json_exits_2_naming_the_resource(external_dir: Path, tmp_path: Path) -> None:
    source = (external_dir / "fhir" / "mcode-rt-course-summary-chest-wall-jenny-m.json").read_bytes()
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(source[: len(source) // 2])
    patient = tmp_path / "patient.json"
    patient.write_text(
        json.dumps({"resourceType": "Patient", "id": "p1", "name": [{"family": "Mustermann", "given": ["Erika"]}]}),
        encoding="utf-8",
    )
    latin1 = tmp_path / "latin1.json"
    bundle = json.loads(source)
    bundle["entry"][0]["resource"]["text"] = {"status": "generated", "div": f"<div>{NAME}, Größe 1,70 m</div>"}
    latin1.write_bytes(json.dumps(bundle, ensure_ascii=False).encode("latin-1", errors="replace"))
    not_json = tmp_path / "broken.json"
    not_json.write_bytes(b'{"resourceType": "Bundle", "entry": [' + NAME.encode() + b"]}")
    wrong_type = tmp_path / "wrong_type.json"
    wrong_type.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": "Mustermann"}))
    results = _run_many(*(["case", str(p)] for p in (truncated, patient, latin1, not_json, wrong_type)))
    _assert_one_line_error(results[0], "Bundle")
    line = _assert_one_line_error(results[1])
    assert "Patient" in line or "resourceType" in line
    _assert_one_line_error(results[2], "Bundle", "UTF-8")
    _assert_one_line_error(results[3], "Bundle")
    _assert_one_line_error(results[4], "Bundle")


def test_malformed_hl7v2_exits_2_naming_segment_and_field(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.hl7"
    latin1.write_bytes(
        "MSH|^~\\&|RT|KLINIK|AGENT|KLINIK|20260408120000||ORU^R01|1|P|2.5|||||DEU|UNICODE UTF-8\r"
        "PID|1||P1^^^KLINIK||Mustermann^Erika||19560312|F|||Hauptstraße 1^^Köln\r".encode("latin-1")
    )
    framed = tmp_path / "framed.hl7"
    framed.write_bytes(b"\x0bMSH|^~\\&|RT|KLINIK\rPID|1||P1||Mustermann^Erika\r")  # start block, no end block
    no_msh = tmp_path / "batch.hl7"
    no_msh.write_bytes(b"BHS|^~\\&|RT\rPID|1||P1||Mustermann^Erika\rBTS|1\r")
    results = _run_many(["case", str(latin1)], ["prompt", str(framed)], ["case", str(no_msh)])
    _assert_one_line_error(results[0], "MSH-18")
    _assert_one_line_error(results[1], "MLLP")
    _assert_one_line_error(results[2], "PID")


def test_prompt_with_site_templates_and_a_broken_template(external_dir: Path, tmp_path: Path) -> None:
    good, broken = tmp_path / "good", tmp_path / "broken"
    good.mkdir()
    broken.mkdir()
    (good / "system.de.j2").write_text("Hausstil: nur Fakten.", encoding="utf-8")
    (broken / "user.j2").write_text("{% for x in diagnoses %}{{ x }", encoding="utf-8")
    path = str(external_dir / "fhir" / "xrts-01-prostate-1p-1v.json")
    ok, bad = _run_many(["prompt", "--templates", str(good), path], ["prompt", "--templates", str(broken), path])
    assert ok.returncode == 0, ok.stderr.decode()
    assert b"system<|end_header_id|>\n\nHausstil: nur Fakten.<|eot_id|>" in ok.stdout
    _assert_one_line_error(bad, "prompt template", "TemplateSyntaxError")
