"""``rtletter jobs list|show|retry|cancel``: inspect and steer the durable job queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtletter.cli.common import ConfigOption, open_job_store
from rtletter.cli.errors import fail

jobs_app = typer.Typer(help="Inspect and steer the durable job queue.", no_args_is_help=True)

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
    from rtletter.agent import Status

    if status is not None and status not in Status.__members__:
        fail(f"unknown status {status!r} (one of {', '.join(Status.__members__)})")
    store = open_job_store(config)
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

    store = open_job_store(config)
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

    from rtletter.agent import JobStoreError

    store = open_job_store(config)
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
