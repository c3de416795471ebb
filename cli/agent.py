"""``rtletter run``, ``rtletter backfill`` and ``rtletter subscribe``: run the agent, fill its queue from a date
range, register its FHIR subscriptions. The agent's modules are imported inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from rtletter.cli.common import ConfigOption, open_job_store, read_settings
from rtletter.cli.errors import EXIT_FAILURE, fail


def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="one poll of every channel, drain the queue, exit")] = False,
) -> None:
    """Run the agent until SIGTERM (or, with --once, process everything pending and exit)."""
    from rtletter.agent import AgentError
    from rtletter.agent import run as run_agent

    settings = read_settings(config)
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

    from rtletter.agent import AgentError, build_channels, configure_logging
    from rtletter.agent.backfill import Backfill

    first, last = _day(since, "--since"), _day(until, "--until")
    if last < first:
        fail("--until is before --since")
    settings = read_settings(config)
    configure_logging(settings.logging.level, json_output=settings.logging.json_output)  # stderr, redacted
    store = open_job_store(config)
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


def subscribe(
    config: ConfigOption = None,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the server to activate it")] = 10.0,
    tasks: Annotated[
        bool, typer.Option(help="also subscribe to the review Tasks (EHR sign-offs followed at once)")
    ] = True,
) -> None:
    """Register the course-finished subscription on the FHIR server (rest-hook to this agent's /fhir/notify), and
    one on the agent's review Tasks where the server offers it."""
    from rtletter.agent import AgentError
    from rtletter.agent.channels.fhir import auth_settings
    from rtletter.agent.fhir.auth import build_auth
    from rtletter.agent.fhir.client import FhirClient
    from rtletter.agent.fhir.subscriptions import register_subscription, register_task_subscription

    settings = read_settings(config)
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
        fail(
            f"the server did not activate the subscription ({status}); is the agent running at {endpoint}?",
            EXIT_FAILURE,
        )


def _activated(client, created, wait: float) -> str:  # type: ignore[no-untyped-def]
    """The subscription's status once the server has decided (a Backport handshake takes a moment)."""
    import time

    status = str(created.get("status"))
    deadline = time.monotonic() + wait
    while status == "requested" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = str(client.read("Subscription", str(created["id"])).get("status"))
    return status
