"""Receive FHIR Subscription notifications (R4 rest-hook and the Subscriptions Backport IG) and register them.

docs/standards.md, "Watching for events":
- R4 rest-hook: with a payload the server PUTs the resource to ``{endpoint}/{type}/{id}`` (or POSTs it to the
  endpoint); without one it POSTs an empty body, a ping after which the client must query.
- Backport (``http://hl7.org/fhir/uv/subscriptions-backport``): notifications are ``history`` Bundles whose entry 0 is
  a ``Parameters`` status with ``type`` handshake | heartbeat | event-notification | query-status,
  ``events-since-subscription-start`` and ``notification-event`` parts (``event-number``, ``focus``). A jump in the
  event numbers, a counter ahead of what we received, or a heartbeat that does not come means lost notifications:
  we ask for a catch-up search (the poller's overlap search finds what was missed).

Every notification must carry the configured secret (``Authorization: Bearer <secret>``, set as a channel header when
the subscription is registered), else 401 (logged and counted, without the header or the body). A body over
``max_body_bytes`` is refused with 413 as soon as its length is known (``Content-Length``, or the bytes read so far),
and JSON nested deeper than ``max_depth`` with 400 before it is parsed. A notification is handed to ``sink`` (the job
store stores it durably) before we answer 200; if that fails we answer 503 so that the server retries.

A notification about one of the agent's review Tasks (EHR worklist mode: ``Task?code=approve``) is not stored: it
asks for a round of the EHR follower now (``on_task``), which reads what changed.

Every notification counts once in ``rtletter_inbound_total{channel="fhir"}`` by result: ``stored`` (a new course
event stored), ``notified`` (accepted, nothing new to store: heartbeat, handshake, ping, repeat, Task change),
``refused`` (401), ``bad_request`` (400), ``too_large`` (413), ``failed`` (503).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from rtletter.agent.channels.base import Inbound
from rtletter.agent.config import WEBHOOK_MAX_BODY_BYTES, WEBHOOK_MAX_DEPTH
from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.fhir.poller import COURSE_CODES, DONE_STATUSES, CourseTracker, course_inbound
from rtletter.agent.fhir.state import StateStore
from rtletter.agent.log import get_logger
from rtletter.mappers import codes
from rtletter.mappers.errors import MappingError
from rtletter.mappers.fhir import check_nesting

AUTH_HEADER = "Authorization"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
BACKPORT_PROFILE = f"{BACKPORT}/backport-subscription"
EXT_CONTENT = f"{BACKPORT}/backport-payload-content"
EXT_HEARTBEAT = f"{BACKPORT}/backport-heartbeat-period"
EXT_FILTER = f"{BACKPORT}/backport-filter-criteria"
COURSE_CRITERIA = f"Procedure?code={COURSE_CODES}&status={','.join(DONE_STATUSES)}"
HEARTBEAT_GRACE = 2.0  # a heartbeat is missed after this many periods of silence
EVENTS_KEY = "fhir.subscription.events."
FHIR_JSON = "application/fhir+json"
TASK_APPROVE = f"{codes.TASK_CODE}|approve"
TASK_CRITERIA = f"Task?code={TASK_APPROVE}"

log = get_logger("rtletter.agent.fhir.subscriptions")

Sink = Callable[[Inbound], None]

log = get_logger("rtletter.agent.fhir.subscriptions")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_status(bundle: Resource) -> dict[str, Any] | None:
    """The backport status of a notification Bundle (R4 ``Parameters``, kebab- or camelCase names), or None."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "history":
        return None
    entries = bundle.get("entry") or []
    first = (entries[0].get("resource") if entries else None) or {}
    if first.get("resourceType") != "Parameters":
        return None
    out: dict[str, Any] = {"type": None, "subscription": None, "events_since_start": None, "events": []}
    for param in first.get("parameter", []):
        name = param.get("name")
        if name == "type":
            out["type"] = param.get("valueCode")
        elif name == "subscription":
            out["subscription"] = (param.get("valueReference") or {}).get("reference")
        elif name in ("events-since-subscription-start", "eventsSinceSubscriptionStart"):
            value = param.get("valueString") or param.get("valueInteger64") or param.get("valueInteger")
            out["events_since_start"] = int(value) if value is not None else None
        elif name in ("notification-event", "notificationEvent"):
            event: dict[str, Any] = {}
            for part in param.get("part", []):
                if part.get("name") in ("event-number", "eventNumber"):
                    number = part.get("valueString") or part.get("valueInteger64") or part.get("valueInteger")
                    event["number"] = int(number) if number is not None else None
                elif part.get("name") == "focus":
                    event["focus"] = (part.get("valueReference") or {}).get("reference")
            out["events"].append(event)
    out["resources"] = [e["resource"] for e in entries[1:] if isinstance(e.get("resource"), dict)]
    return out


def _subscription_key(reference: str | None) -> str:
    """``http://x/fhir/Subscription/42`` -> ``Subscription/42``."""
    parts = (reference or "Subscription/unknown").split("/_history/", 1)[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


class NotificationReceiver:
    """The logic behind the HTTP routes, testable without a server."""

    def __init__(
        self,
        sink: Sink,
        state: StateStore,
        *,
        secret: str,
        catch_up: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
        heartbeat_s: float | None = None,
        on_task: Callable[[], None] | None = None,
        metrics: Any = None,
        max_body_bytes: int = WEBHOOK_MAX_BODY_BYTES,
        max_depth: int = WEBHOOK_MAX_DEPTH,
    ) -> None:
        if not secret:
            raise ValueError("a subscription secret is required")
        self.sink = sink
        self.state = state
        self.tracker = CourseTracker(state)
        self._expected = f"Bearer {secret}"
        self.catch_up = catch_up or (lambda reason: None)
        self.clock = clock
        self.monotonic = monotonic
        self.last_seen: dict[str, float] = {}  # subscription -> monotonic time of its last notification
        self.heartbeat_s: dict[str, float] = {}  # subscription -> heartbeat period, when known
        self.default_heartbeat_s = heartbeat_s  # the period we registered with: expected of every subscription seen
        self.catch_ups: list[str] = []  # reasons, for tests and metrics (no PHI)
        self.on_task = on_task or (lambda: None)
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth
        self.metrics = metrics  # AgentMetrics (its inbound counter), None in bare tests
        self.task_notifications = 0

    def count(self, result: str, **fields: object) -> None:
        """One notification, counted and logged by its result; fields are kinds and counts, never data."""
        if self.metrics is not None:
            self.metrics.inbound.labels(channel="fhir", result=result).inc()
        if result == "refused":
            log.warning("notification refused", status=401, **fields)
        elif result in ("bad_request", "too_large", "failed"):
            log.warning("notification not taken", result=result, **fields)
        else:
            log.info("notification received", result=result, **fields)

    def _task_changed(self) -> None:
        self.task_notifications += 1
        self.on_task()

    def authorised(self, header_value: str | None) -> bool:
        return header_value is not None and hmac.compare_digest(header_value.encode(), self._expected.encode())

    def _catch_up(self, reason: str) -> None:
        self.catch_ups.append(reason)
        self.catch_up(reason)

    # --- R4 rest-hook ----------------------------------------------------------------------------------------------

    def resource(self, resource: Resource, raw: bytes, *, source: str = "rest-hook") -> list[Inbound]:
        """A rest-hook notification with payload: the (course summary) resource itself, or a review Task."""
        if resource.get("resourceType") == "Task":
            self._task_changed()
            return []
        if resource.get("resourceType") != "Procedure":
            return []
        event = self.tracker.classify(resource)
        if event is None:
            return []
        inbound = course_inbound(resource, event, source=source, received_at=self.clock())
        inbound = Inbound(inbound.channel, inbound.key, raw, inbound.content_type, inbound.received_at, inbound.meta)
        try:
            self.sink(inbound)
        except Exception:
            self.tracker.forget(resource)  # not stored: the server's retry must not look like a repeat
            raise
        self.tracker.commit()
        return [inbound]

    def ping(self) -> None:
        """An empty rest-hook notification: something matched, we must query (a course or a review Task: both)."""
        self._catch_up("rest-hook ping")
        self.on_task()

    # --- Backport --------------------------------------------------------------------------------------------------

    def notification(self, bundle: Resource, raw: bytes) -> list[Inbound]:
        status = parse_status(bundle)
        if status is None:
            return []
        subscription = _subscription_key(status["subscription"])
        self.last_seen[subscription] = self.monotonic()
        if self.default_heartbeat_s and subscription not in self.heartbeat_s:
            self.heartbeat_s[subscription] = self.default_heartbeat_s
        key = EVENTS_KEY + subscription
        received = int(self.state.get(key) or 0)
        kind = status["type"]
        stored: list[Inbound] = []
        if kind == "event-notification":
            numbers = [e["number"] for e in status["events"] if e.get("number") is not None]
            if numbers and min(numbers) > received + 1 and received > 0:
                self._catch_up(f"{subscription}: events {received + 1}..{min(numbers) - 1} missing")
            stored = self._events(status, raw, subscription)
            if numbers:
                self.state.set(key, str(max(received, *numbers)))
        elif kind in ("heartbeat", "query-status", "handshake"):
            since_start = status["events_since_start"]
            if kind != "handshake" and since_start is not None and since_start > received:
                self._catch_up(f"{subscription}: server counts {since_start} events, received {received}")
                self.state.set(key, str(since_start))
            elif kind == "handshake" and since_start is not None and received == 0:
                self.state.set(key, str(since_start))
        return stored

    def _events(self, status: dict[str, Any], raw: bytes, subscription: str) -> list[Inbound]:
        """full-resource payloads go through the tracker; id-only focus references are stored as they are."""
        stored: list[Inbound] = []
        by_key = {f"{r.get('resourceType')}/{r.get('id')}": r for r in status["resources"]}
        task_changed = False
        for event in status["events"]:
            focus = event.get("focus") or ""
            ref = "/".join(focus.split("/_history/", 1)[0].rstrip("/").split("/")[-2:])
            task_changed = task_changed or ref.startswith("Task/")
            if not ref.startswith("Procedure/"):
                continue
            resource = by_key.get(ref)
            if resource is not None:
                stored += self.resource(resource, raw, source="backport")
                continue
            inbound = Inbound(
                channel="fhir",
                key=f"{subscription}/event/{event.get('number')}",
                payload=raw,
                content_type=FHIR_JSON,
                received_at=self.clock(),
                meta={"resource": ref, "event": "notified", "source": "backport"},
            )
            self.sink(inbound)
            stored.append(inbound)
        if task_changed:
            self._task_changed()
        return stored

    def expect_heartbeat(self, subscription: str, period_s: float) -> None:
        self.heartbeat_s[_subscription_key(subscription)] = period_s
        self.last_seen.setdefault(_subscription_key(subscription), self.monotonic())

    def check_heartbeats(self) -> list[str]:
        """Subscriptions silent for more than ``HEARTBEAT_GRACE`` heartbeat periods; each triggers a catch-up."""
        now = self.monotonic()
        silent = [
            s for s, period in self.heartbeat_s.items() if now - self.last_seen.get(s, now) > HEARTBEAT_GRACE * period
        ]
        for subscription in silent:
            self._catch_up(f"{subscription}: no heartbeat")
            self.last_seen[subscription] = now  # one catch-up per silence, not one per check
        return silent


def build_router(receiver: NotificationReceiver, *, prefix: str = "/fhir/notify") -> APIRouter:
    """``POST {prefix}`` (ping, backport bundle or resource) and ``PUT {prefix}/{type}/{id}`` (R4 with payload)."""
    router = APIRouter(prefix=prefix)

    async def _handle(request: Request) -> Response:
        header = request.headers.get(AUTH_HEADER)
        if not receiver.authorised(header):
            receiver.count("refused", reason="no secret" if header is None else "wrong secret")
            return Response(status_code=401)
        raw = await _read_body(request, receiver.max_body_bytes)
        if raw is None:
            receiver.count("too_large", limit=receiver.max_body_bytes)
            return Response(status_code=413)
        if not raw.strip():
            receiver.ping()
            receiver.count("notified", kind="ping")
            return Response(status_code=200)
        try:
            check_nesting(raw, receiver.max_depth)
            body = json.loads(raw)
        except MappingError:
            receiver.count("bad_request", kind="JSON nested too deeply", limit=receiver.max_depth)
            return Response(status_code=400)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            receiver.count("bad_request", kind="not a JSON object")
            return Response(status_code=400)
        rtype = str(body.get("resourceType") or "none")[:40]
        kind = rtype
        try:
            if rtype == "Bundle":
                kind = str((parse_status(body) or {}).get("type") or "bundle")[:40]
                stored = receiver.notification(body, raw)
            else:
                stored = receiver.resource(body, raw)
        except Exception as exc:  # not stored: make the server retry rather than lose it
            receiver.count("failed", kind=kind, error=type(exc).__name__)
            return Response(status_code=503)
        receiver.count("stored" if stored else "notified", kind=kind, stored=len(stored))
        return Response(status_code=200)

    @router.post("")
    async def notify(request: Request) -> Response:
        """A rest-hook ping, a Backport notification Bundle or a resource."""
        return await _handle(request)

    @router.put("/{resource_type}/{resource_id}")
    async def notify_resource(request: Request, resource_type: str, resource_id: str) -> Response:
        """An R4 rest-hook notification with its resource."""
        return await _handle(request)

    return router


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be longer than ``limit`` (the rest is never read)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def register_subscription(
    client: FhirClient,
    *,
    endpoint: str,
    secret: str,
    backport_topic: str | None = None,
    heartbeat_s: int | None = None,
    content: str = "full-resource",
    criteria: str = COURSE_CRITERIA,
    reason: str = "rtletter: radiotherapy course completed or stopped",
) -> Resource:
    """Create the Subscription on the server and return it as created (check ``status``: ``requested``/``active``,
    or ``error`` when the server refused the channel). With ``backport_topic`` it is a Backport topic subscription
    (filtered to course summaries by code), else an R4 criteria subscription."""
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": FHIR_JSON,
        "header": [f"{AUTH_HEADER}: Bearer {secret}"],
    }
    subscription: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": reason,
        "criteria": criteria,
        "channel": channel,
    }
    if backport_topic:
        subscription["meta"] = {"profile": [BACKPORT_PROFILE]}
        subscription["criteria"] = backport_topic
        code_filter = {"url": EXT_FILTER, "valueString": criteria.split("&", 1)[0]}
        subscription["_criteria"] = {"extension": [code_filter]}
        channel["_payload"] = {"extension": [{"url": EXT_CONTENT, "valueCode": content}]}
        if heartbeat_s:
            channel["extension"] = [{"url": EXT_HEARTBEAT, "valueUnsignedInt": heartbeat_s}]
    return client.create(subscription)


def register_task_subscription(
    client: FhirClient, *, endpoint: str, secret: str, backport_topic: str | None = None
) -> Resource:
    """The subscription on the agent's review Tasks (EHR worklist mode): a change to one makes the follower look now.
    R4 criteria on ``Task.code``, or a Backport topic subscription (the site's Task topic) filtered the same way."""
    return register_subscription(
        client,
        endpoint=endpoint,
        secret=secret,
        backport_topic=backport_topic,
        criteria=TASK_CRITERIA,
        reason="rtletter: review Task of a draft letter changed",
    )


def subscription_status(client: FhirClient, subscription_id: str) -> Resource:
    """``Subscription/{id}/$status`` (Backport): a searchset with the status Parameters."""
    return client.get(f"Subscription/{subscription_id}/$status")
