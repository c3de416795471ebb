"""The agent's web app (FastAPI): ``/healthz``, ``/readyz``, ``/metrics`` and the FHIR subscription receiver.

Built once by the entry point from parts it already holds (store, metrics, channels) and served by uvicorn in a
thread beside the worker (``WebServer``). Nothing here reads settings at import time.

- ``/healthz``: the process answers (liveness; no dependency is checked, so a slow database never restarts us).
- ``/readyz``: the job store answers a query and every channel says it is ready (``ready()`` where a channel has
  one); 503 with the failing checks otherwise. Check names and one-line reasons only: no patient data.
- ``/metrics``: Prometheus text from ``AgentMetrics`` (state gauges refreshed from the store on each scrape).
- ``/fhir/notify``: ``rtletter.agent.fhir.subscriptions.build_router`` (secret header, else 401).

Further routers (the physician worklist) are added at the marked place in ``create_app`` or passed in
``extra_routers``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from rtletter.agent.channels.base import Channel, Inbound
from rtletter.agent.config import WEBHOOK_MAX_BODY_BYTES, WEBHOOK_MAX_DEPTH
from rtletter.agent.fhir.subscriptions import NotificationReceiver, build_router
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger, route_stdlib_logs
from rtletter.agent.metrics import AgentMetrics

log = get_logger("rtletter.agent.web")


@runtime_checkable
class Ready(Protocol):
    """Optional for a channel: ``ready()`` raises (with a PHI-free message) or returns when it can do its work."""

    def ready(self) -> None: ...


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # a readiness probe reports, it never fails the request
        message = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {message}"[:200] if message else type(exc).__name__
    return "ok"


def readiness(store: JobStore, channels: Mapping[str, Channel]) -> dict[str, str]:
    """``{"database": "ok", "channel:fhir": "ChannelUnavailable: ..."}``."""
    checks = {"database": _check(store.ping)}
    for name, channel in channels.items():
        checks[f"channel:{name}"] = _check(channel.ready) if isinstance(channel, Ready) else "ok"
    return checks


def create_app(
    store: JobStore,
    metrics: AgentMetrics,
    *,
    channels: Mapping[str, Channel] | None = None,
    notifications: APIRouter | None = None,
    settings: Any = None,
    generator: Any = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The app. ``notifications``: the FHIR receiver's router (``notification_router``), None without
    subscriptions. ``settings``: the agent ``Settings`` for routers that need them (the worklist). ``generator``: the
    running worker's, so that a regeneration from the worklist does not load the model a second time."""
    channels = dict(channels or {})
    app = FastAPI(title="rtletter agent", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.metrics = metrics
    app.state.channels = channels
    app.state.settings = settings

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        checks = readiness(store, channels)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    @app.get("/metrics")
    def prometheus() -> Response:
        try:
            metrics.refresh(store)
        except Exception as exc:  # serve what we have; the database gauge says why the states are stale
            log.warning("metrics refresh failed", error=type(exc).__name__)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    if notifications is not None:
        app.include_router(notifications)

    # --- further routers ------------------------------------------------------------------------------------------
    if settings is not None:  # the physician worklist, its review actions on the running agent's channels
        from rtletter.agent.worklist.dashboard import build_dashboard_router
        from rtletter.agent.worklist.routes import build_worklist_router
        from rtletter.agent.worklist.users import UserStore

        users = UserStore(store)  # one for both routers: it hashes a dummy password at start
        users.create_tables()
        app.include_router(build_worklist_router(store, settings, channels=channels, generator=generator, users=users))
        app.include_router(build_dashboard_router(store, settings, users=users))
    for router in extra_routers:
        app.include_router(router)
    return app


def store_sink(
    store: JobStore, *, actor: str = "web:fhir-notify", on_stored: Callable[[], None] | None = None
) -> Callable[[Inbound], None]:
    """A receiver sink that commits the notification to the store before the HTTP answer (then wakes the worker)."""

    def sink(event: Inbound) -> None:
        store.store_event(event, actor=actor)
        if on_stored is not None:
            on_stored()

    return sink


def notification_router(
    store: JobStore,
    secret: str,
    *,
    catch_up: Callable[[str], None] | None = None,
    on_stored: Callable[[], None] | None = None,
    on_task: Callable[[], None] | None = None,
    heartbeat_s: float | None = None,
    metrics: AgentMetrics | None = None,
    max_body_bytes: int = WEBHOOK_MAX_BODY_BYTES,
    max_depth: int = WEBHOOK_MAX_DEPTH,
) -> tuple[NotificationReceiver, APIRouter]:
    """The FHIR subscription receiver on the store (its course tracker shares the poller's state) and its routes.
    ``heartbeat_s``: the Backport heartbeat period registered (``rtletter subscribe``); silence beyond it is a gap.
    ``on_task``: a review Task changed in the EHR (follow it now). ``metrics``: every notification is counted."""
    receiver = NotificationReceiver(
        store_sink(store, on_stored=on_stored),
        store.state("fhir"),
        secret=secret,
        catch_up=catch_up,
        heartbeat_s=heartbeat_s,
        on_task=on_task,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        max_depth=max_depth,
    )
    return receiver, build_router(receiver)


class WebServer:
    """uvicorn in a daemon thread; ``stop()`` asks it to finish open requests and waits."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        import uvicorn

        # No access log: notification URLs carry resource ids. uvicorn's own records go through the redaction.
        # No proxy headers: uvicorn would believe X-Forwarded-For from 127.0.0.1; the worklist reads it itself, from
        # worklist.trusted_proxies only.
        config = uvicorn.Config(
            app, host=host, port=port, access_log=False, log_config=None, log_level="warning", proxy_headers=False
        )
        route_stdlib_logs("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="rtletter-web", daemon=True)

    def _serve(self) -> None:
        import asyncio

        asyncio.run(self.server.serve())  # serve() (not run()): no signal handlers in this thread

    def start(self, timeout_s: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            if self.server.started or not self._thread.is_alive():
                break
            deadline.wait(0.05)
        if not self.server.started:
            raise RuntimeError("the web server did not start (port in use?)")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout_s)
