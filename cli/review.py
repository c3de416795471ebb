"""``rtletter review follow|sign|reject|stats``: sign-off from the command line, the same actions as the worklist
(rtletter.agent.review.service), with the same refusals as one-line errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rtletter.cli.common import open_job_store, read_settings
from rtletter.cli.errors import fail

if TYPE_CHECKING:
    from rtletter.agent import JobStore, ReviewService

REVIEW_HELP = "Sign-off from the command line: follow the EHR, sign, reject, figures."
review_app = typer.Typer(help=REVIEW_HELP, no_args_is_help=True)
# The review commands' --config help has always said "environment", not "environment only": kept as it was.
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment)")]


@review_app.callback()
def _review() -> None:
    """Sign-off from the command line: follow the EHR, sign, reject, figures."""


class _CliUser:
    def __init__(self, name: str, practitioner: str | None) -> None:
        self.name = name
        self.practitioner = practitioner


@contextmanager
def _service(config: Path | None) -> Iterator[tuple[JobStore, ReviewService]]:
    """Store and review service on the configured channels; both closed on the way out."""
    from rtletter.agent import ReviewService, build_channels

    settings = read_settings(config)
    store = open_job_store(config)
    channels: dict[str, Any] = {}
    try:
        channels = build_channels(settings, store)
        yield store, ReviewService(store, channels)
    finally:
        for channel in channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
        store.dispose()


def _run(action: Callable[[], None]) -> None:
    from rtletter.agent import AgentError

    try:
        action()
    except AgentError as exc:  # ReviewRefused, ConfigError, JobStoreError: one line, no traceback
        fail(str(exc))


@review_app.command("follow")
def follow_command(config: ConfigOption = None) -> None:
    """One round of EHR worklist mode: pick up drafts signed or rejected in the EHR."""
    from rtletter.agent.review.follow import ehr_follower

    def go() -> None:
        with _service(config) as (store, service):
            follower = ehr_follower(store, service.channels)
            if follower is None:
                fail("EHR worklist mode needs channels.fhir")
            result = follower.poll()
        typer.echo(f"open drafts {result.checked}, changed {result.changed}, "
                   f"signed {result.signed}, rejected {result.rejected}")  # fmt: skip

    _run(go)


@review_app.command("sign")
def sign_command(
    job: Annotated[int, typer.Argument(help="job id")],
    user: Annotated[str, typer.Option(help="who signs (account name, audited)")],
    practitioner: Annotated[str | None, typer.Option(help="the signer's Practitioner/<id>")] = None,
    text_file: Annotated[Path | None, typer.Option(help="the signed text (default: the current draft text)")] = None,
    acknowledge_course_change: Annotated[
        bool, typer.Option(help="sign although the course changed after drafting")
    ] = False,
    acknowledge_findings: Annotated[
        bool, typer.Option(help="sign although the fact check finds statements contradicting the source (audited)")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Sign a posted draft (final document, Task completed; MDM AU on v2 sites)."""
    text = None
    if text_file is not None:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {text_file}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}")

    def go() -> None:
        with _service(config) as (_, service):
            service.sign(job, _CliUser(user, practitioner), text,
                         acknowledge_course_change=acknowledge_course_change,
                         acknowledge_findings=acknowledge_findings)  # fmt: skip
        typer.echo(f"job {job}: signed")

    _run(go)


@review_app.command("reject")
def reject_command(
    job: Annotated[int, typer.Argument(help="job id")],
    user: Annotated[str, typer.Option(help="who rejects (account name, audited)")],
    reason: Annotated[str, typer.Option(help="why (stored in the Task's statusReason)")],
    practitioner: Annotated[str | None, typer.Option(help="the physician's Practitioner/<id>")] = None,
    config: ConfigOption = None,
) -> None:
    """Reject a posted draft (Task rejected, document entered-in-error)."""

    def go() -> None:
        with _service(config) as (_, service):
            service.reject(job, _CliUser(user, practitioner), reason)
        typer.echo(f"job {job}: rejected")

    _run(go)


@review_app.command("stats")
def stats_command(config: ConfigOption = None) -> None:
    """Figures of the feedback dashboard, per model version."""
    from rtletter.agent.review.stats import compute
    from rtletter.agent.review.store import review_store

    store = open_job_store(config)
    try:
        figures = compute(review_store(store).decided())
    finally:
        store.dispose()
    typer.echo("model\tsigned\trejected\tunchanged\tmedian_edit_ratio\tmedian_hours_to_signature")
    for model, g in [*figures.by_model.items(), ("all", figures.total)]:
        ratio = "-" if g.median_ratio is None else f"{g.median_ratio:.3f}"
        hours = "-" if g.median_hours is None else f"{g.median_hours:.1f}"
        typer.echo(f"{model}\t{g.signed}\t{g.rejected}\t{g.unchanged}\t{ratio}\t{hours}")
