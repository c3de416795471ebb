"""``rtletter run``: build everything from the settings, then poll and work until stopped (or once).

The entry point builds the settings, the store, the channels and the letter backend in dependency order and passes them
down; nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from rtletter.agent.channels.base import Channel
from rtletter.agent.config import ModelSettings, Settings
from rtletter.agent.errors import ConfigError
from rtletter.agent.jobs.retry import RetryStrategy
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import DrainResult, Worker
from rtletter.agent.log import configure_logging, get_logger
from rtletter.agent.metrics import AgentMetrics
from rtletter.agent.review.follow import FollowResult, ehr_follower, run_once
from rtletter.model import Backend, load_backend

log = get_logger("rtletter.agent.service")


def open_store(settings: Settings) -> JobStore:
    store = JobStore(settings.database.url, lease_s=settings.jobs.lease_s)
    store.create_tables()
    return store


def build_channels(settings: Settings, store: JobStore) -> dict[str, Channel]:
    """The configured channels, by name. Channels keep their bookkeeping in the job store (``channel_state``)."""
    channels: dict[str, Channel] = {}
    if settings.channels.file is not None:
        from rtletter.agent.channels.file import FileChannel

        channels["file"] = FileChannel(settings.channels.file)
    if settings.channels.fhir is not None:
        try:
            from rtletter.agent.channels.fhir import FhirChannel
        except ImportError as exc:
            raise ConfigError("channels.fhir is configured but the FHIR channel is not installed") from exc
        adapter = settings.model.adapter_dir.name if settings.model.adapter_dir else "none"
        channels["fhir"] = FhirChannel.from_settings(
            settings.channels.fhir, store.state("fhir"), adapter_version=adapter
        )
    if settings.channels.mllp is not None:
        from rtletter.agent.channels.mllp import MllpChannel

        channels["mllp"] = MllpChannel(settings.channels.mllp, store)
    if not channels:
        raise ConfigError("no channel configured (channels.file, channels.fhir or channels.mllp)")
    return channels


def build_backend(settings: ModelSettings) -> Backend:
    """The letter backend the ``model`` settings ask for (``rtletter.model.backends``). Heavy imports (torch) happen
    only for the local backend.

    Raises:
        ModelLoadError: local: the model or adapter folder cannot be loaded.
    """
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return load_backend(
        settings.backend,
        base_dir=settings.base_dir,
        adapter_dir=settings.adapter_dir,
        base_url=str(settings.base_url) if settings.base_url else None,
        model_name=settings.model_name,
        api_key=key,
        concurrency=settings.concurrency,
        template_dir=settings.letterhead.template_dir,
        scaffold=settings.scaffold,
    )


def build_worker(settings: Settings, *, metrics: AgentMetrics | None = None) -> Worker:
    store = open_store(settings)
    return Worker(
        store,
        build_channels(settings, store),
        build_backend(settings.model),
        retry=RetryStrategy(settings.jobs.max_attempts, settings.jobs.backoff_base_s, settings.jobs.backoff_max_s),
        metrics=metrics,
        max_prompt_tokens=settings.model.max_prompt_tokens,
        max_new_tokens=settings.model.max_new_tokens,
        batch_size=settings.model.batch_size,
        site=settings.model.site(),
        fact_slots=settings.model.fact_slots,
        redraft=settings.model.redraft,
        site_words=settings.model.site_words(),
        fallback=settings.model.fallback_backend(),
    )


def serve(settings: Settings, worker: Worker) -> None:
    """The long-running mode: the web app (uvicorn, in a thread), the scheduler (polls, the EHR follower, nightly
    backfill, heartbeat checks, in its threads) and the worker draining in this thread until SIGTERM/SIGINT. On the
    way out the step in hand is finished (the worker checkpoints it), the web server stops taking notifications, and
    the scheduler waits for a poll in flight (a backfill stops at its next course)."""
    from rtletter.agent.backfill import nightly
    from rtletter.agent.scheduler import build_scheduler, follow_now, poll_now
    from rtletter.agent.web.app import WebServer, create_app, notification_router

    scheduler_ref: list[Any] = []

    def catch_up(reason: str) -> None:
        log.info("catch-up poll requested", reason=reason)
        if scheduler_ref:
            poll_now(scheduler_ref[0])

    def task_changed() -> None:  # a Task notification: a sign-off or rejection in the EHR, follow it now
        if scheduler_ref:
            follow_now(scheduler_ref[0])

    receiver, router = None, None
    fhir = settings.channels.fhir
    if fhir is not None and fhir.subscription_secret is not None and "fhir" in worker.channels:
        secret = fhir.subscription_secret.get_secret_value()
        receiver, router = notification_router(
            worker.store,
            secret,
            catch_up=catch_up,
            on_stored=worker.wake,
            on_task=task_changed,
            heartbeat_s=fhir.subscription_heartbeat_s,
            metrics=worker.metrics,
            max_body_bytes=fhir.subscription_max_body_bytes,
            max_depth=fhir.subscription_max_depth,
        )
    app = create_app(
        worker.store,
        worker.metrics,
        channels=worker.channels,
        notifications=router,
        settings=settings,
        generator=worker.generator,
    )
    follower = ehr_follower(worker.store, worker.channels)

    def poll() -> None:
        if worker.poll_channels():
            worker.wake()

    scheduler = build_scheduler(
        settings.scheduler,
        poll=poll,
        follow=(lambda: run_once(follower)) if follower is not None else None,
        backfill=lambda: nightly(
            worker.store, worker.channels, settings.scheduler.backfill_days, lambda: worker.stopping
        ),
        heartbeats=receiver.check_heartbeats if receiver is not None else None,
    )
    scheduler_ref.append(scheduler)
    web = WebServer(app, settings.web.host, settings.web.port)
    try:
        web.start()
    except RuntimeError:
        raise ConfigError(f"web: cannot listen on {settings.web.host}:{settings.web.port} (port in use?)") from None
    scheduler.start()
    log.info("serving", host=settings.web.host, port=settings.web.port, subscriptions=router is not None)
    try:
        for channel in worker.channels.values():
            start_listener = getattr(channel, "start_listener", None)  # MLLP: own thread; run()'s close() stops it
            if start_listener is not None:
                start_listener(on_stored=worker.wake)
        worker.serve()
    finally:
        web.stop()
        scheduler.shutdown(wait=True)


@dataclass(frozen=True)
class RunSummary:
    stored: int
    drained: DrainResult
    pending: int
    followed: FollowResult | None = None  # the EHR follower's round (None: no FHIR channel)


def run(settings: Settings, *, once: bool = False, log_stream: TextIO | None = None) -> RunSummary:
    """``once``: one poll of every channel, drain the queue, return. Else: poll and work until SIGTERM/SIGINT.
    ``log_stream``: where the JSON logs go (default stderr; the demo keeps them in a file)."""
    configure_logging(settings.logging.level, json_output=settings.logging.json_output, stream=log_stream)
    worker = build_worker(settings)
    worker.install_signal_handlers()
    log.info("agent started", once=once, channels=",".join(worker.channels), backend=settings.model.backend)
    try:
        followed = None
        if once:
            stored = worker.poll_channels()
            drained = worker.drain()
            follower = ehr_follower(worker.store, worker.channels)
            if follower is not None:
                followed = run_once(follower)
        else:
            serve(settings, worker)
            stored, drained = 0, DrainResult()
        pending, _ = worker.store.pending()
    finally:
        for channel in worker.channels.values():
            close = getattr(channel, "close", None)  # the FHIR channel's HTTP connections
            if close is not None:
                close()
        worker.store.dispose()
    log.info("agent stopped", stored=stored, steps=drained.steps, posted=drained.posted, pending=pending)
    return RunSummary(stored, drained, pending, followed)
