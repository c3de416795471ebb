"""The demo's agent stage: the sandbox FHIR server, synthetic finished courses, the agent until each has a draft.

1. start sekmet-fhir (``FhirSandbox``: 127.0.0.1, simulator off) on a fresh database under ``<work>/agent/fhir``;
2. load the chosen patients' bundles as transactions (every resource PUT under its id, so references resolve);
3. write ``<work>/agent/agent.yaml`` (FHIR channel on the sandbox with an explicit poll start, the instant before the
   load: a site's agent takes only courses that change after its first start, the demo's courses are loaded just
   before; SQLite job store, the given model settings) and run
   the agent with it (``service.run(settings, once=True)``) until every course has a posted draft or nothing is left
   to do; its JSON logs go to ``<work>/agent/agent.log``, never to the console;
4. read each draft's DocumentReference and Task back from the server and print the table and the URLs.

The console table shows patient names: it is the operator's screen and the patients are synthetic. The log file is
checked for those names afterwards (the redaction processor must have kept them out).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from rtletter.demo.sandbox import FhirSandbox, free_port
from rtletter.demo.timings import Timings

FINISHED = ("completed", "stopped")  # the course states the poller acts on
MAX_ROUNDS = 20  # agent runs (each: one poll, drain) before giving up on courses still waiting for a retry
MAX_RETRY_WAIT_S = 30.0


@dataclass(frozen=True)
class DemoRow:
    """One course as the agent left it, with what the FHIR server says about its draft."""

    patient: str  # the synthetic patient's name: console only, never logged
    patient_id: str
    course: str
    status: str  # the job's state
    document: str | None  # DocumentReference/<id>
    task: str | None  # Task/<id>
    doc_status: str | None  # the server's DocumentReference.docStatus
    task_status: str | None  # the server's Task.status
    flags: tuple[str, ...] = ()


@dataclass
class AgentResult:
    rows: list[DemoRow]
    expected: int  # courses loaded into the server
    base_url: str
    config: Path
    log: Path
    rounds: int
    names_in_log: int = 0
    worklist: str | None = None  # its URL while the agent keeps running (--keep)
    timings: Timings = field(default_factory=Timings)

    @property
    def drafted(self) -> int:
        return sum(1 for row in self.rows if row.document and row.task)

    @property
    def ok(self) -> bool:
        return self.drafted == self.expected and self.names_in_log == 0


def select_patients(cohort: Path, count: int | None, held_out_first: bool = True) -> list[str]:
    """Patient ids of finished courses: the held-out (test split) patients first, then the rest in manifest order.

    Args:
        cohort: folder written by ``write_cohort``.
        count: how many (None: all finished courses).
        held_out_first: put the patients the model never trained on first.
    """
    from rtletter.model.dataset import split_for

    manifest = json.loads((cohort / "manifest.json").read_text(encoding="utf-8"))
    finished = [entry["patient_id"] for entry in manifest["patients"] if entry["status"] in FINISHED]
    if held_out_first:
        finished.sort(key=lambda pid: split_for(pid) != "test")  # stable: manifest order within each group
    return finished if count is None else finished[:count]


def write_config(
    folder: Path, base_url: str, model: dict[str, Any], web_port: int | None = None, poll_start: datetime | None = None
) -> Path:
    """The demo agent's YAML: the FHIR channel on the sandbox (polling from ``poll_start``, default: its first
    start), a SQLite job store in ``folder``, ``model``, the web app (health, metrics, worklist) on
    127.0.0.1:``web_port`` when the agent keeps running."""
    fhir: dict[str, Any] = {"base_url": base_url, "poll_overlap_s": 0}
    if poll_start is not None:
        fhir["poll_start"] = poll_start.astimezone(UTC).isoformat()
    data: dict[str, Any] = {
        "database": {"url": f"sqlite:///{(folder / 'rtletter.db').resolve()}"},
        "channels": {"fhir": fhir},
        "model": model,
        "jobs": {"backoff_base_s": 0.5, "backoff_max_s": 10},
        "scheduler": {"backfill_cron": None},
        "logging": {"level": "INFO", "json": True},
    }
    if web_port is not None:
        data["web"] = {"host": "127.0.0.1", "port": web_port}
        data["worklist"] = {"cookie_secure": False}  # plain HTTP on loopback
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def _kept_process_state() -> Iterator[None]:
    """``service.run`` installs SIGINT/SIGTERM handlers and configures structlog for the process; put both back."""
    import structlog

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    logging_config = structlog.get_config()
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        structlog.configure(**logging_config)


def run_agent(config: Path, log_path: Path, expected: int) -> int:
    """Run the agent (one poll, drain) until ``expected`` jobs are posted or no work is left; returns the rounds."""
    from rtletter.agent.config import load_settings
    from rtletter.agent.jobs.job import Status
    from rtletter.agent.jobs.schema import utcnow
    from rtletter.agent.service import open_store, run

    settings = load_settings(config)
    with log_path.open("a", encoding="utf-8") as log_stream, _kept_process_state():
        for rounds in range(1, MAX_ROUNDS + 1):
            summary = run(settings, once=True, log_stream=log_stream)
            store = open_store(settings)
            try:
                posted = len(store.list_jobs(Status.posted, limit=expected + 1))
                _, next_at = store.pending()
            finally:
                store.dispose()
            if posted >= expected or summary.pending == 0:
                return rounds
            wait = (next_at - utcnow()).total_seconds() if next_at else 1.0
            time.sleep(min(MAX_RETRY_WAIT_S, max(0.1, wait)))
    return MAX_ROUNDS


def serve_until_stopped(config: Path, log_path: Path) -> None:
    """The agent in its long-running mode (web app with the worklist, scheduler, worker) until SIGINT/SIGTERM."""
    from rtletter.agent.config import load_settings
    from rtletter.agent.service import run

    with log_path.open("a", encoding="utf-8") as log_stream, _kept_process_state():
        run(load_settings(config), log_stream=log_stream)


def _flags(job: Any, case: Any) -> tuple[str, ...]:
    """What a physician should look at first: job flags, the patient's death, the draft's fact check (findings and
    key facts not stated) and sections."""
    from rtletter.agent.jobs.worker import redraft_choice
    from rtletter.model.evaluate import STUDY_SECTIONS, check_draft, check_sections

    flags = [str(flag) for flag in sorted(job.flags)]
    if case.patient.deceased:
        flags.append("patient deceased")
    if job.last_error:
        flags.append(f"error: {job.last_error}")
    if job.draft_text:
        facts = check_draft(case, job.draft_text)
        if facts.unsupported:
            flags.append(f"{facts.unsupported} unsupported")
        if facts.contradicted:
            flags.append(f"{facts.contradicted} contradicted")
        if facts.omitted:
            flags.append(f"{len(facts.omitted)} key fact{'s' if len(facts.omitted) != 1 else ''} not stated")
        sections = check_sections(job.draft_text, case.language)
        if sections.missing:
            present = len(STUDY_SECTIONS) - len(sections.missing)
            flags.append(f"sections {present}/{len(STUDY_SECTIONS)}")
    if chosen := redraft_choice(job.draft_meta):  # the first draft was faulted (model.redraft)
        flags.append(chosen)
    return tuple(flags)


def collect_rows(config: Path) -> list[DemoRow]:
    """Every job of the demo's store, with its draft's DocumentReference and Task as the server has them now."""
    from rtletter.agent.config import load_settings
    from rtletter.agent.fhir.client import FhirClient
    from rtletter.agent.service import open_store
    from rtletter.mappers.case import Case

    settings = load_settings(config)
    assert settings.channels.fhir is not None
    store = open_store(settings)
    rows = []
    try:
        jobs = store.list_jobs(limit=100_000)
    finally:
        store.dispose()
    with FhirClient(str(settings.channels.fhir.base_url)) as client:
        for job in sorted(jobs, key=lambda j: j.key):
            case = Case.model_validate_json(job.case_json or "")
            doc_status = task_status = None
            if job.posted_document:
                doc_status = client.read(*job.posted_document.split("/", 1)).get("docStatus")
            if job.posted_task:
                task_status = client.read(*job.posted_task.split("/", 1)).get("status")
            rows.append(
                DemoRow(
                    patient=case.patient.name,
                    patient_id=case.patient.id,
                    course=case.course.id or job.key,
                    status=str(job.status),
                    document=job.posted_document,
                    task=job.posted_task,
                    doc_status=doc_status,
                    task_status=task_status,
                    flags=_flags(job, case),
                )
            )
    return rows


def names_in_log(log_path: Path, rows: list[DemoRow]) -> int:
    """How many patient names (or patient ids) of ``rows`` occur in the log file: must be none."""
    text = log_path.read_text(encoding="utf-8") if log_path.is_file() else ""
    return sum(1 for row in rows for value in (row.patient, row.patient_id) if value and value in text)


def print_rows(console: Console, result: AgentResult) -> None:
    table = Table(title=f"Drafts in the FHIR server ({result.drafted} of {result.expected} courses)")
    for column in ("patient", "course", "job", "draft DocumentReference", "Task", "flags"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        document = f"{row.document} ({row.doc_status})" if row.document else "[red]none[/red]"
        task = f"{row.task} ({row.task_status})" if row.task else "[red]none[/red]"
        table.add_row(row.patient, row.course, row.status, document, task, "; ".join(row.flags) or "-")
    console.print(table)


def agent_stage(
    console: Console,
    work: Path,
    cohort: Path,
    *,
    model: dict[str, Any],
    patients: list[str],
    keep: bool = False,
    sandbox: FhirSandbox | None = None,
    timings: Timings | None = None,
) -> AgentResult:
    """Start the sandbox, load ``patients``' courses, run the agent with ``model`` settings, print the drafts.

    Args:
        console: where the table goes.
        work: the demo's work folder; ``<work>/agent`` is wiped and rebuilt (server database, job store, log).
        cohort: the synthetic cohort folder.
        model: the ``model`` section of the agent's settings (backend local with base_dir/adapter_dir, template).
        patients: patient ids (folders of ``cohort``) whose courses are loaded.
        keep: leave the server running until Ctrl-C, so the URLs can be opened.
    """
    folder = work / "agent"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    timings = timings if timings is not None else Timings()
    own = sandbox is None
    sandbox = sandbox or FhirSandbox(folder / "fhir")
    try:
        with timings.measure("FHIR server start + load"):
            sandbox.start()
            # The agent's explicit poll start: just before the load (a second of margin for the clock's resolution).
            loaded_from = datetime.now(UTC) - timedelta(seconds=1)
            for patient_id in patients:
                sandbox.load(json.loads((cohort / patient_id / "bundle.json").read_text(encoding="utf-8")))
        console.print(f"sandbox FHIR server at {sandbox.base_url}: loaded {len(patients)} finished courses")

        web_port = free_port() if keep else None
        config = write_config(folder, sandbox.base_url, model, web_port, poll_start=loaded_from)
        log_path = folder / "agent.log"
        status = console.status(f"agent drafting {len(patients)} letters ({model.get('backend')} backend) ...")
        with timings.measure(f"agent: {len(patients)} courses (poll, context, draft, write-back)"), status:
            rounds = run_agent(config, log_path, expected=len(patients))

        rows = collect_rows(config)
        result = AgentResult(rows, len(patients), sandbox.base_url, config, log_path, rounds, timings=timings)
        result.names_in_log = names_in_log(log_path, rows)
        if web_port is not None:
            result.worklist = f"http://127.0.0.1:{web_port}/worklist/"
        print_rows(console, result)
        print_urls(console, result)
        if keep:
            console.print("The FHIR server and the agent (worklist, /metrics) keep running; Ctrl-C stops both.")
            serve_until_stopped(config, log_path)
        return result
    finally:
        if own:
            sandbox.stop()


def print_urls(console: Console, result: AgentResult) -> None:
    console.print(f"FHIR server:       {result.base_url}")
    sample = next((row for row in result.rows if row.document), None)
    if sample is not None:
        console.print(f"sample draft:      {result.base_url}/{sample.document}")
        console.print(f"its approval Task: {result.base_url}/{sample.task}")
    console.print(f"agent config:      {result.config}  (e.g. rtletter jobs list --config {result.config})")
    if result.worklist:
        console.print(f"worklist:          {result.worklist}")
        console.print(f"  (an account first: rtletter users add NAME --role physician --config {result.config})")
    else:
        console.print("worklist:          served while the agent runs: rtletter demo --stage agent --keep")
    state = "[green]no patient names or ids[/green]" if result.names_in_log == 0 else "[red]PATIENT DATA FOUND[/red]"
    console.print(f"agent log:         {result.log} ({state})")
    if result.drafted < result.expected:
        console.print(f"[red]{result.expected - result.drafted} course(s) without a draft after {result.rounds} runs")
