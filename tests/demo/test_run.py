"""The demo's agent stage against the real sandbox FHIR server (sekmet-fhir): every loaded course gets one draft
DocumentReference and one approval Task, the printed table says what the server holds, the log holds no patient data.

The template backend drafts here (no model), so this runs in seconds; the full demo with the tiny model is
``make demo``, not a test.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from rtletter.agent.fhir.client import FhirClient
from rtletter.cli import app
from rtletter.demo.agent_stage import agent_stage, select_patients
from rtletter.demo.cohort import write_cohort
from rtletter.demo.model_stage import adapter_key, base_is_current
from rtletter.demo.sandbox import DEFAULT_SEKMET, FhirSandbox
from rtletter.model.dataset import split_for

N_PATIENTS = 4
SEED = 23


@pytest.fixture
def sandbox(tmp_path: Path) -> FhirSandbox:
    if not DEFAULT_SEKMET.exists():
        pytest.fail(f"{DEFAULT_SEKMET} missing: run `make sandbox`")
    with FhirSandbox(tmp_path / "sekmet") as server:
        yield server


def everything(client: FhirClient, rtype: str) -> list[dict]:
    return [entry["resource"] for entry in client.search(rtype, {"_count": "100"}).get("entry", [])]


def press_ctrl_c_once_served(config: Path, seen: dict[str, int]) -> None:
    """What an operator of ``--keep`` does: open the worklist, then press Ctrl-C."""
    deadline = time.monotonic() + 300  # a loaded CI machine; an idle one serves within seconds
    while time.monotonic() < deadline:
        try:
            port = yaml.safe_load(config.read_text())["web"]["port"]
            seen["healthz"] = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
            seen["login"] = httpx.get(f"http://127.0.0.1:{port}/worklist/login", timeout=1).status_code
            break
        except (OSError, KeyError, TypeError, httpx.HTTPError):
            time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.integration
def test_agent_stage_drafts_every_course_the_table_matches_the_server_and_keep_serves_the_worklist(
    tmp_path: Path, sandbox: FhirSandbox
) -> None:
    cohort = tmp_path / "cohort"
    write_cohort(cohort, n=N_PATIENTS, seed=SEED, lang="de")
    patients = select_patients(cohort, None)
    assert len(patients) == N_PATIENTS  # the synthetic courses are all completed or stopped
    output = io.StringIO()
    console = Console(file=output, width=250, color_system=None)
    seen: dict[str, int] = {}
    config = tmp_path / "work" / "agent" / "agent.yaml"
    threading.Thread(target=press_ctrl_c_once_served, args=(config, seen), daemon=True).start()
    handler = signal.getsignal(signal.SIGINT)

    result = agent_stage(console, tmp_path / "work", cohort, model={"backend": "template"}, patients=patients,
                         keep=True, sandbox=sandbox)  # fmt: skip

    assert seen == {"healthz": 200, "login": 200}  # --keep: the agent served its web app until Ctrl-C
    assert signal.getsignal(signal.SIGINT) is handler  # and the process's own Ctrl-C handling is back
    assert sandbox.running  # the caller's server is left running
    assert result.ok and result.expected == N_PATIENTS and result.drafted == N_PATIENTS
    assert {row.status for row in result.rows} == {"posted"}
    with FhirClient(sandbox.base_url) as client:
        documents = {f"DocumentReference/{d['id']}": d for d in everything(client, "DocumentReference")}
        tasks = {f"Task/{t['id']}": t for t in everything(client, "Task")}
        assert set(documents) == {row.document for row in result.rows}  # one draft per course, no more
        assert set(tasks) == {row.task for row in result.rows}
        for row in result.rows:
            document, task = documents[row.document], tasks[row.task]
            assert row.doc_status == document["docStatus"] == "preliminary"
            assert row.task_status == task["status"] == "requested"
            assert task["focus"]["reference"] == row.document
            patient = client.read(*document["subject"]["reference"].split("/", 1))
            name = patient["name"][0]
            assert row.patient == " ".join([*name.get("given", []), name["family"]])
            course_refs = [r["reference"] for r in document["context"]["related"]]
            assert f"Procedure/{row.course}" in course_refs
    shown = output.getvalue()
    for row in result.rows:
        assert row.document in shown and row.task in shown and row.patient in shown
    assert f"{sandbox.base_url}/{result.rows[0].document}" in shown  # the sample URL
    assert result.worklist and f"worklist:          {result.worklist}" in shown

    log = result.log.read_text(encoding="utf-8")
    events = [json.loads(line)["event"] for line in log.splitlines()]
    assert events.count("draft posted") == N_PATIENTS
    assert "serving" in events  # the --keep run logged to the same file
    assert result.names_in_log == 0
    assert not any(row.patient in log for row in result.rows)
    assert "no patient names or ids" in shown
    assert set(result.timings.rows) == {
        "FHIR server start + load",
        f"agent: {N_PATIENTS} courses (poll, context, draft, write-back)",
    }


def test_held_out_patients_come_first(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    write_cohort(cohort, n=30, seed=7, lang="de")
    in_manifest = [entry["patient_id"] for entry in json.loads((cohort / "manifest.json").read_text())["patients"]]
    held_out = [pid for pid in in_manifest if split_for(pid) == "test"]
    assert held_out
    every = select_patients(cohort, None)
    assert every == held_out + [pid for pid in in_manifest if pid not in held_out]
    assert select_patients(cohort, 3) == every[:3]


def test_cli_rejects_an_unknown_stage(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--work", str(tmp_path), "--stage", "everything"])
    assert result.exit_code == 2
    assert "--stage must be one of all, mapping, model, agent" in result.output
    assert not (tmp_path / "cohort").exists()


def test_the_adapter_key_follows_training_data_config_and_base_weights(tmp_path: Path) -> None:
    base, data = tmp_path / "base", tmp_path / "dataset"
    base.mkdir()
    data.mkdir()
    (base / "model.safetensors").write_bytes(b"weights v1")
    (data / "train.jsonl").write_text('{"id": "a"}\n')
    (data / "validation.jsonl").write_text('{"id": "b"}\n')
    first = adapter_key(base, data)
    assert adapter_key(base, data) == first
    (data / "test.jsonl").write_text('{"id": "c"}\n')
    assert adapter_key(base, data) == first  # the test split does not train the adapter
    (data / "train.jsonl").write_text('{"id": "a2"}\n')
    second = adapter_key(base, data)
    assert second != first
    (base / "model.safetensors").write_bytes(b"weights v2")  # a rebuilt base invalidates the adapter
    assert adapter_key(base, data) not in (first, second)
    assert not base_is_current(base)  # no build card, no tokenizer: not a finished base


def test_a_base_built_from_another_corpus_is_not_current(tmp_path: Path) -> None:
    """A cohort generator that now writes other cases (a new special case, a new fact) changes the base's corpus:
    the base built before must be rebuilt, not reused with today's config."""
    from rtletter.demo.base_model import BASE_FILES, BUILD_CARD, BaseConfig, corpus
    from rtletter.demo.model_stage import BASE_CONFIG, config_dict
    from rtletter.model.components.config import load_config

    base = tmp_path / "base"
    base.mkdir()
    for name in BASE_FILES:
        (base / name).write_text("{}")
    config = load_config(BaseConfig, BASE_CONFIG)
    card = {"config": config_dict(config), "corpus_sha256": corpus(config)[2]}
    (base / BUILD_CARD).write_text(json.dumps(card))
    assert base_is_current(base)
    (base / BUILD_CARD).write_text(json.dumps(card | {"corpus_sha256": "0" * 64}))
    assert not base_is_current(base)


@pytest.mark.integration
def test_the_sandbox_starts_from_a_relative_work_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make demo` passes var/demo/agent/fhir; sekmet runs in that folder, so its config path must be absolute.
    monkeypatch.chdir(tmp_path)
    with FhirSandbox(Path("var") / "fhir") as server:
        assert httpx.get(f"{server.base_url}/metadata", timeout=5).status_code == 200
        assert json.loads((tmp_path / "var" / "fhir" / "settings.yaml").read_text())["port"] == server.port


def test_a_model_that_does_not_beat_its_base_stops_the_demo_before_the_agent_posts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate: with a shortfall from the model stage (injected), exit 1, one reason, and no agent stage at all."""
    from rtletter.demo import agent_stage as agent_stage_module
    from rtletter.demo import model_stage as model_stage_module
    from rtletter.demo import run as demo_module

    def failing_model_stage(
        console: Console, work: Path, cohort: Path, timings: object
    ) -> model_stage_module.ModelArtifacts:
        return model_stage_module.ModelArtifacts(base=work / "base", dataset=work / "dataset", adapter=work / "adapter",
                                                 shortfalls=["rouge1: fine-tuned 0.000 <= base 0.039"])  # fmt: skip

    def agent_must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the agent stage ran behind a failed gate")

    monkeypatch.setattr(model_stage_module, "model_stage", failing_model_stage)
    monkeypatch.setattr(agent_stage_module, "agent_stage", agent_must_not_run)
    for stage in ("all", "agent"):
        out = io.StringIO()
        code = demo_module.run_demo(tmp_path, stage=stage, patients=4, console=Console(file=out, width=200))
        assert code == 1
        failures = [line for line in out.getvalue().splitlines() if line.startswith("FAILED")]
        assert failures == ["FAILED model: the fine-tuned model does not beat its base; the agent stage did not run"]
    assert not (tmp_path / "agent").exists()


def test_the_agent_stage_flags_findings_and_key_facts_not_stated() -> None:
    from types import SimpleNamespace

    from rtletter.demo.agent_stage import _flags
    from rtletter.mappers.template_letter import render_letter
    from tests.factories import make_case

    case = make_case(1)  # 40.05 Gy in 15 fractions of 2.67 Gy
    letter = render_letter(case)
    job = SimpleNamespace(flags=frozenset(), last_error=None, draft_text=letter, draft_meta={})
    assert _flags(job, case) == ()
    job.draft_text = letter.replace("40,05 Gy", "40 Gy")  # a near total: contradicted, and the true one not stated
    assert _flags(job, case)[:2] == ("1 contradicted", "1 key fact not stated")
    job.draft_text = letter
    job.draft_meta = {"redraft": '{"candidates": 8, "picked": 3, "first": "", "posted": ""}'}
    assert _flags(job, case) == ("sampled draft 3 of 8 posted",)
