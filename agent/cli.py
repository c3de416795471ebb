"""The ``rtletter`` command line. Only this module turns errors into exit codes and one-line messages.

Sub-command groups live beside the code they drive (``rtletter.model.cli``); heavy imports (torch) happen inside
commands so that ``rtletter --help`` and the mapping commands start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from rtletter.agent.worklist.cli import users_app
from rtletter.mappers.errors import MappingError

if TYPE_CHECKING:
    from rtletter.mappers.case import Case

app = typer.Typer(
    help="Draft radiotherapy end-of-treatment letters on premises.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, no traceback, non-zero exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _read_input(path: Path) -> bytes:
    """The bytes of FILE or stdin (``-``), refused past the mapping size limit without reading it all."""
    from rtletter.mappers.load import MAX_INPUT_BYTES

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as stream:
                data = stream.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}")
    if len(data) > MAX_INPUT_BYTES:
        fail(f"cannot read {path}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return data


def _write(text: str) -> None:
    """UTF-8 on stdout whatever the locale says (names and doses carry umlauts and ×)."""
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


FileArgument = Annotated[Path, typer.Argument(help="FHIR JSON bundle or HL7 v2 message(s) ('-' for stdin)")]
LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="letter language de or en (default: the case's own, German unless set)"),
]
ProfileOption = Annotated[
    Path | None,
    typer.Option("--profile", help="the site's HL7 v2 profile (YAML); default: the shipped profile"),
]


def _load(file: Path, lang: str | None, profile: Path | None) -> list[Case]:
    """Read and map FILE; every failure becomes one line on stderr (exit 2, or 1 for a bug), never a traceback."""
    from rtletter.mappers.load import load_cases

    if lang not in (None, "de", "en"):
        fail("--lang must be de or en")
    data = _read_input(file)
    try:
        v2_profile = None
        if profile is not None:
            from rtletter.mappers.hl7v2 import load_profile

            v2_profile = load_profile(profile)
        cases = load_cases(data, v2_profile=v2_profile)
    except MappingError as exc:
        fail(str(exc).replace("\n", " "))
    except Exception as exc:  # a mapper bug; its message may quote the input (PHI), so only the type is shown
        fail(f"internal error while mapping ({type(exc).__name__}); please report it with the input", code=1)
    if lang is not None:
        cases = [item.model_copy(update={"language": lang}) for item in cases]
    return cases


@app.command()
def case(file: FileArgument, lang: LangOption = None, profile: ProfileOption = None) -> None:
    """Print the normalised case(s) of FILE as a JSON list (FHIR or HL7 v2, detected from content)."""
    cases = _load(file, lang, profile)
    _write(json.dumps([item.model_dump(mode="json") for item in cases], ensure_ascii=False, indent=2))


@app.command()
def prompt(
    file: FileArgument,
    max_tokens: Annotated[int, typer.Option(min=1, help="token budget of each prompt (chars/3.5 estimate)")] = 3072,
    lang: LangOption = None,
    profile: ProfileOption = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="folder with the site's prompt templates (system.de.j2, system.en.j2, user.j2)"),
    ] = None,
    messages: Annotated[bool, typer.Option("--messages", help="print the chat messages as JSON instead")] = False,
) -> None:
    """Print the prompt for each case of FILE, rendered in the Llama-3 chat format."""
    import jinja2

    from rtletter.mappers.prompt import build_messages, render_chat

    if templates is not None and not templates.is_dir():
        fail(f"--templates {templates} is not a folder")
    built = []
    for number, item in enumerate(_load(file, lang, profile), start=1):
        try:
            chat = build_messages(item, max_tokens=max_tokens, template_dir=templates)
        except jinja2.TemplateError as exc:  # a site template with a syntax error or an unknown variable
            fail(f"prompt template: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        budget = chat.budget
        if budget.over_budget:
            typer.echo(
                f"warning: case {number}: prompt has {budget.tokens} tokens, over the budget of {max_tokens}, "
                "with only diagnoses and course left",
                err=True,
            )
        elif budget.dropped:
            dropped = ", ".join(f"{label} {count}" for label, count in budget.dropped.items())
            typer.echo(f"note: case {number}: dropped to fit {max_tokens} tokens: {dropped}", err=True)
        built.append(chat)
    if messages:
        _write(json.dumps([list(chat) for chat in built], ensure_ascii=False, indent=2))
    else:
        _write("\n".join(render_chat(chat) for chat in built))


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="output folder")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of patients")] = 50,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    lang: Annotated[str, typer.Option(help="letter language: de or en")] = "de",
) -> None:
    """Write a synthetic cohort: per patient a FHIR bundle, HL7 v2 messages and a reference letter."""
    from rtletter.demo.cohort import write_cohort

    if lang not in ("de", "en"):
        fail(f"--lang must be de or en, not {lang!r}")
    summary = write_cohort(out, n=n, seed=seed, lang=lang)
    typer.echo(summary)


@app.command()
def demo(
    work: Annotated[Path, typer.Option(help="work folder; reused between runs")] = Path("var/demo"),
    stage: Annotated[str, typer.Option(help="all, mapping, model or agent")] = "all",
    n: Annotated[int | None, typer.Option("--n", min=2, help="synthetic patients (default 60)")] = None,
    seed: Annotated[int | None, typer.Option(help="the cohort's seed (default 7)")] = None,
    courses: Annotated[
        int | None, typer.Option(min=0, help="courses the agent drafts, held-out first (default 8; 0: all)")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="rebuild everything: cohort, base model, adapter, reports")] = False,
    keep: Annotated[
        bool, typer.Option(help="keep the FHIR server running after the agent stage, until Ctrl-C")
    ] = False,
) -> None:
    """Run the main job on embedded defaults with synthetic patients (what `make demo` runs)."""
    from rtletter.agent.errors import AgentError
    from rtletter.demo import run as demo_module
    from rtletter.demo.errors import DemoError
    from rtletter.model.errors import ModelError

    if stage not in demo_module.STAGES:
        fail(f"--stage must be one of {', '.join(demo_module.STAGES)}, not {stage!r}")
    try:
        code = demo_module.run_demo(
            work,
            stage=stage,
            patients=n or demo_module.DEMO_PATIENTS,
            seed=demo_module.DEMO_SEED if seed is None else seed,
            courses=demo_module.DEMO_COURSES if courses is None else (courses or None),
            fresh=fresh,
            keep=keep,
        )
    except (AgentError, ModelError, DemoError) as exc:  # messages name files and fields, never patient data
        fail(f"demo: {exc}")
    raise typer.Exit(code)


# --- the agent: run, config, jobs -----------------------------------------------------------------------------------

config_app = typer.Typer(help="Check the agent's configuration; print its reference.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and steer the durable job queue.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment only)")]


def _settings(path: Path | None):  # type: ignore[no-untyped-def]
    from rtletter.agent.config import load_settings
    from rtletter.agent.errors import ConfigError

    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(str(exc))


def _store(path: Path | None):  # type: ignore[no-untyped-def]
    from rtletter.agent.errors import JobStoreError
    from rtletter.agent.service import open_store

    try:
        return open_store(_settings(path))
    except JobStoreError as exc:
        fail(str(exc))


@app.command()
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="one poll of every channel, drain the queue, exit")] = False,
) -> None:
    """Run the agent until SIGTERM (or, with --once, process everything pending and exit)."""
    from rtletter.agent.errors import AgentError
    from rtletter.agent.service import run as run_agent

    settings = _settings(config)
    try:
        summary = run_agent(settings, once=once)
    except AgentError as exc:
        fail(str(exc))
    if once:
        d = summary.drained
        line = (
            f"stored {summary.stored}, posted {d.posted}, quarantined {d.quarantined}, ignored {d.ignored}, "
            f"dead {d.dead}, "
            f"waiting for retry {summary.pending}"
        )
        if summary.followed is not None:
            f = summary.followed
            line += f"; in the EHR: signed {f.signed}, rejected {f.rejected}"
        typer.echo(line)


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="agent YAML")]) -> None:
    """Validate FILE (and RTLETTER_* overrides); print a summary without secrets."""
    settings = _settings(file)
    typer.echo(f"OK {file}")
    for line in settings.summary():
        typer.echo(f"  {line}")


@config_app.command("reference")
def config_reference(
    out: Annotated[Path | None, typer.Option(help="write here (docs/configuration.md) instead of stdout")] = None,
) -> None:
    """Print the configuration reference (Markdown), generated from the settings model."""
    from rtletter.agent.config_reference import render

    text = render()
    if out is None:
        _write(text.rstrip("\n"))
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}")


JOB_COLUMNS = ("ID", "STATE", "ATTEMPTS", "FLAGS", "KEY", "LAST ERROR")
INBOUND_COLUMNS = ("INBOUND", "STATE", "ATTEMPTS", "CHANNEL", "KEY", "LAST ERROR")
# Inbound events (stored, not yet turned into jobs) listed for these states; no --status: the waiting ones.
NO_JOB_STATES = ("quarantined", "ignored", "dead")  # inbound states of a stored message that made no job


@jobs_app.command("list")
def jobs_list(
    config: ConfigOption = None,
    status: Annotated[str | None, typer.Option(help="only jobs (and inbound events) in this state")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    all_rows: Annotated[
        bool, typer.Option("--all", help="also stored messages that made no job: quarantined or ignored, with why")
    ] = False,
) -> None:
    """One line per job: id, state, attempts, flags, last error; then the inbound events still waiting to become
    jobs (right after a backfill, before the worker has run). With --all (or --status quarantined/ignored) also the
    stored messages that made no job, with the reason."""
    from rtletter.agent.jobs.job import Status

    if status is not None and status not in Status.__members__:
        fail(f"unknown status {status!r} (one of {', '.join(Status.__members__)})")
    store = _store(config)
    wanted = Status(status) if status else None
    jobs = [] if wanted in (Status.ignored, Status.quarantined) else store.list_jobs(wanted, limit)
    sections = [(Status.received, "waiting to become jobs")] if wanted in (None, Status.received) else []
    sections += [(Status(s), f"{s}, no job") for s in NO_JOB_STATES if wanted == s or (all_rows and wanted is None)]
    listed = [(what, rows) for state, what in sections if (rows := store.list_inbound(state, limit))]
    if not jobs and not listed:
        typer.echo(f"no jobs{f' in state {status}' if status else ''}")
        return
    if jobs:
        typer.echo("\t".join(JOB_COLUMNS))
    for job in jobs:
        flags = ",".join(sorted(job.flags)) or "-"
        typer.echo(f"{job.id}\t{job.status}\t{job.attempts}\t{flags}\t{job.key}\t{job.last_error or ''}")
    for number, (what, rows) in enumerate(listed):
        if jobs or number:
            typer.echo("")
        typer.echo(f"inbound events {what}: {len(rows)}")
        typer.echo("\t".join(INBOUND_COLUMNS))
        for event in rows:
            error = (event.last_error or event.quarantine_reason or "").replace("\n", " ")
            typer.echo(f"{event.id}\t{event.status}\t{event.attempts}\t{event.channel}\t{event.key}\t{error}")


def _job_ref(ref: str) -> int | str:
    return int(ref) if ref.isdigit() else ref


@jobs_app.command("show")
def jobs_show(ref: Annotated[str, typer.Argument(help="job id or key")], config: ConfigOption = None) -> None:
    """Everything about one job, the draft included (recorded in the audit table)."""
    import getpass
    import json

    store = _store(config)
    job = store.get_job(_job_ref(ref))
    if job is None:
        fail(f"no job {ref}")
    store.audit(f"cli:{getpass.getuser()}", "read", "job", job.key, "shown on the command line")
    fields = {k: v for k, v in vars(job).items() if k not in ("case_json", "draft_text")}
    fields["flags"] = sorted(job.flags)
    typer.echo(json.dumps(fields, default=str, indent=2, sort_keys=True))
    if job.draft_text:
        typer.echo("--- draft ---\n" + job.draft_text)


def _steer(ref: str, config: Path | None, action: str) -> None:
    import getpass

    from rtletter.agent.errors import JobStoreError

    store = _store(config)
    try:
        job = getattr(store, f"{action}_job")(_job_ref(ref), f"cli:{getpass.getuser()}")
    except JobStoreError as exc:
        fail(str(exc))
    typer.echo(f"job {job.id}: {job.status}")


@jobs_app.command("retry")
def jobs_retry(ref: Annotated[str, typer.Argument(help="job id or key")], config: ConfigOption = None) -> None:
    """Run a dead or waiting job's next step at the next drain, with attempts reset."""
    _steer(ref, config, "retry")


@jobs_app.command("cancel")
def jobs_cancel(ref: Annotated[str, typer.Argument(help="job id or key")], config: ConfigOption = None) -> None:
    """Stop a job that has not been posted."""
    _steer(ref, config, "cancel")


def _day(value: str, option: str):  # type: ignore[no-untyped-def]
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date YYYY-MM-DD, not {value!r}")


class _RichProgress:
    """The backfill's progress as rich bars on stderr, one per channel."""

    def __init__(self, progress) -> None:  # type: ignore[no-untyped-def]
        self.progress = progress
        self.tasks: dict[str, object] = {}

    def start(self, channel: str, total: int | None) -> None:
        self.tasks[channel] = self.progress.add_task(f"backfill {channel}", total=total)

    def advance(self, channel: str) -> None:
        self.progress.advance(self.tasks[channel])


@app.command()
def backfill(
    since: Annotated[str, typer.Option(help="first day of the range (course end), YYYY-MM-DD")],
    until: Annotated[str, typer.Option(help="last day of the range, YYYY-MM-DD")],
    config: ConfigOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only count; store nothing")] = False,
) -> None:
    """Enqueue finished courses in a date range that have no job yet (FHIR search, file inbox)."""
    import getpass

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from rtletter.agent.backfill import Backfill
    from rtletter.agent.errors import AgentError
    from rtletter.agent.logging import configure_logging
    from rtletter.agent.service import build_channels

    first, last = _day(since, "--since"), _day(until, "--until")
    if last < first:
        fail("--until is before --since")
    settings = _settings(config)
    configure_logging(settings.logging.level, json_output=settings.logging.json_output)  # stderr, redacted
    store = _store(config)
    channels = {}
    try:
        channels = build_channels(settings, store)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            runner = Backfill(store, channels, actor=f"cli:{getpass.getuser()}", progress=_RichProgress(progress))
            summaries = runner.run(first, last, dry_run=dry_run)
    except AgentError as exc:
        fail(str(exc))
    finally:
        for channel in channels.values():
            close = getattr(channel, "close", None)  # the FHIR channel's HTTP connections
            if close is not None:
                close()
        store.dispose()
    for summary in summaries:
        for line in summary.lines(dry_run):
            typer.echo(line)


@app.command()
def subscribe(
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the server to activate it")] = 10.0,
    tasks: Annotated[
        bool, typer.Option(help="also subscribe to the review Tasks (EHR sign-offs followed at once)")
    ] = True,
) -> None:
    """Register the course-finished subscription on the FHIR server (rest-hook to this agent's /fhir/notify), and
    one on the agent's review Tasks where the server offers it."""
    from rtletter.agent.channels.fhir import auth_settings
    from rtletter.agent.errors import AgentError
    from rtletter.agent.fhir.auth import build_auth
    from rtletter.agent.fhir.client import FhirClient
    from rtletter.agent.fhir.subscriptions import register_subscription, register_task_subscription

    settings = _settings(config)
    fhir = settings.channels.fhir
    if fhir is None:
        fail("channels.fhir is not configured")
    if fhir.subscription_secret is None:
        fail("channels.fhir.subscription_secret is required for subscriptions")
    endpoint = str(fhir.subscription_endpoint or f"http://{settings.web.host}:{settings.web.port}/fhir/notify")
    base_url = str(fhir.base_url).rstrip("/")
    secret = fhir.subscription_secret.get_secret_value()
    # A Backport server needs a Task topic of its own; an R4 server takes a criteria string.
    task_topic = fhir.subscription_task_topic
    want_tasks = tasks and (fhir.subscription_topic is None or task_topic is not None)
    task_line = None
    try:
        auth = build_auth(auth_settings(fhir.auth), base_url)
        with FhirClient(base_url, auth=auth, timeout_s=fhir.timeout_s) as client:
            created = register_subscription(
                client,
                endpoint=endpoint,
                secret=secret,
                backport_topic=fhir.subscription_topic,
                heartbeat_s=fhir.subscription_heartbeat_s,
            )
            status = _activated(client, created, wait)
            if want_tasks and status == "active":
                try:
                    task_sub = register_task_subscription(
                        client, endpoint=endpoint, secret=secret, backport_topic=task_topic
                    )
                    task_status = _activated(client, task_sub, wait)
                    task_line = f"Subscription/{task_sub.get('id')} (review Tasks): {task_status} -> {endpoint}"
                except AgentError as exc:  # not offered: the follower's schedule still picks sign-offs up
                    task_status = f"refused ({str(exc).splitlines()[0][:120]})"
                    task_line = f"review Task subscription: {task_status}"
                if task_status != "active":
                    every = settings.scheduler.follow_interval_s
                    task_line += f"; EHR sign-offs are looked up every {every:g} s (scheduler.follow_interval_s)"
    except AgentError as exc:
        fail(str(exc))
    typer.echo(f"Subscription/{created.get('id')}: {status} -> {endpoint}")
    if task_line:
        typer.echo(task_line)
    if status != "active":
        fail(f"the server did not activate the subscription ({status}); is the agent running at {endpoint}?", 1)


def _activated(client, created, wait: float) -> str:  # type: ignore[no-untyped-def]
    """The subscription's status once the server has decided (a Backport handshake takes a moment)."""
    import time

    status = str(created.get("status"))
    deadline = time.monotonic() + wait
    while status == "requested" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = str(client.read("Subscription", str(created["id"])).get("status"))
    return status


def _register_groups() -> None:
    from rtletter.agent.review.cli import register as register_dataset_export
    from rtletter.agent.review.cli import review_app
    from rtletter.model.cli import model_app
    from rtletter.model.eval_cli import dataset_app, eval_app

    register_dataset_export(dataset_app)  # `dataset export`: agent side, as the model must not import the agent
    app.add_typer(model_app, name="model")
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(eval_app, name="eval")
    app.add_typer(review_app, name="review")


_register_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
