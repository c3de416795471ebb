"""``rtletter dataset export --signed --out DIR``: the model's ``dataset`` group gains an agent-side command (the
model package must not import the agent, so the command is defined here and added in ``rtletter.agent.cli``)."""

from __future__ import annotations

import getpass
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer


def export_command(
    out: Annotated[Path, typer.Option(help="output folder for train/validation/test.jsonl and stats.json")],
    signed: Annotated[bool, typer.Option("--signed", help="physician-signed letters from the job store")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment)")] = None,
    since: Annotated[str | None, typer.Option(help="only letters signed on or after this date (YYYY-MM-DD)")] = None,
    max_length: Annotated[int, typer.Option(min=1, help="flag records with more tokens (kept, not dropped)")] = 4096,
) -> None:
    """Build the next fine-tuning set from signed letters (same format as `rtletter dataset build`)."""
    from rtletter.agent.cli import _store, fail
    from rtletter.agent.errors import AgentError
    from rtletter.agent.review.feedback import export_signed
    from rtletter.model.errors import ModelError

    if not signed:
        fail("say what to export: --signed (physician-signed letters)")
    start = None
    if since is not None:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            fail(f"--since must be a date YYYY-MM-DD, not {since!r}")
    store = _store(config)
    try:
        stats = export_signed(store, out, actor=f"cli:{getpass.getuser()}", since=start, max_length=max_length)
    except (AgentError, ModelError, OSError) as exc:
        fail(str(exc))
    finally:
        store.dispose()
    typer.echo(stats.summary())
    typer.echo(f"wrote {out}/train.jsonl, validation.jsonl, test.jsonl, stats.json")


def register(dataset_app: typer.Typer) -> None:
    dataset_app.command("export")(export_command)


REVIEW_HELP = "Sign-off from the command line: follow the EHR, sign, reject, figures."
review_app = typer.Typer(help=REVIEW_HELP, no_args_is_help=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (default: environment)")]


@review_app.callback()
def _review() -> None:
    """Sign-off from the command line: follow the EHR, sign, reject, figures."""


class _CliUser:
    def __init__(self, name: str, practitioner: str | None) -> None:
        self.name = name
        self.practitioner = practitioner


@contextmanager
def _service(config: Path | None):  # type: ignore[no-untyped-def]
    """Store and review service on the configured channels; both closed on the way out."""
    from rtletter.agent.cli import _settings, _store
    from rtletter.agent.review.service import ReviewService
    from rtletter.agent.service import build_channels

    settings = _settings(config)
    store = _store(config)
    channels: dict = {}
    try:
        channels = build_channels(settings, store)
        yield store, ReviewService(store, channels)
    finally:
        for channel in channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
        store.dispose()


def _run(action) -> None:  # type: ignore[no-untyped-def]
    from rtletter.agent.cli import fail
    from rtletter.agent.errors import AgentError

    try:
        action()
    except AgentError as exc:  # ReviewRefused, ConfigError, JobStoreError: one line, no traceback
        fail(str(exc))


@review_app.command("follow")
def follow_command(config: ConfigOption = None) -> None:
    """One round of EHR worklist mode: pick up drafts signed or rejected in the EHR."""
    from rtletter.agent.cli import fail
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
    from rtletter.agent.cli import fail

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
    from rtletter.agent.cli import _store
    from rtletter.agent.review.stats import compute
    from rtletter.agent.review.store import review_store

    store = _store(config)
    try:
        figures = compute(review_store(store).decided())
    finally:
        store.dispose()
    typer.echo("model\tsigned\trejected\tunchanged\tmedian_edit_ratio\tmedian_hours_to_signature")
    for model, g in [*figures.by_model.items(), ("all", figures.total)]:
        ratio = "-" if g.median_ratio is None else f"{g.median_ratio:.3f}"
        hours = "-" if g.median_hours is None else f"{g.median_hours:.1f}"
        typer.echo(f"{model}\t{g.signed}\t{g.rejected}\t{g.unchanged}\t{ratio}\t{hours}")
