"""EHR worklist mode by subscription: the server tells us when a review Task changes, we decide at once.

``register_review_subscription`` creates an R4 rest-hook Subscription on review Tasks that reached an end state
(``Task?code=approve&status=completed,rejected,cancelled``), full resource as payload, our secret as a header.
``review_router`` receives them (``POST {prefix}`` or ``PUT {prefix}/Task/<id>``; an empty POST is a ping and runs one
polling round) and hands the resources to ``EhrFollower.apply``, which records the decision in the job store before
we answer 200; on any failure we answer 503 so that the server retries. A notification that decides nothing (not
one of our drafts, a Task completed before its document is final) is answered 200 and left to the next polling
round, which stays the backstop for lost notifications.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.fhir.subscriptions import AUTH_HEADER, register_subscription
from rtletter.agent.log import get_logger
from rtletter.agent.review.follow import EhrFollower
from rtletter.mappers import codes

log = get_logger(__name__)

TASK_CODE = f"{codes.TASK_CODE}|approve"
REVIEW_CRITERIA = f"Task?code={TASK_CODE}&status=completed,rejected,cancelled"
PREFIX = "/fhir/notify-review"


def register_review_subscription(client: FhirClient, *, endpoint: str, secret: str) -> Resource:
    """Create the Subscription for review Tasks on the server (check ``status`` of the answer)."""
    return register_subscription(
        client,
        endpoint=endpoint,
        secret=secret,
        criteria=REVIEW_CRITERIA,
        reason="rtletter: a physician decided on an AI-drafted letter",
    )


def _resources(body: Any) -> list[Resource]:
    if not isinstance(body, dict):
        return []
    if body.get("resourceType") == "Bundle":
        return [e["resource"] for e in body.get("entry", []) if isinstance(e.get("resource"), dict)]
    return [body]


def review_router(follower: EhrFollower, secret: str, *, prefix: str = PREFIX) -> APIRouter:
    router = APIRouter(prefix=prefix)
    expected = f"Bearer {secret}"

    async def handle(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get(AUTH_HEADER, "").encode(), expected.encode()):
            return Response(status_code=401)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return Response(status_code=400)
        try:
            if body is None:
                result = await run_in_threadpool(follower.poll)  # a ping: look for ourselves
            else:
                result = await run_in_threadpool(follower.apply, _resources(body))
        except Exception as exc:  # the server retries on 503; the next polling round is the backstop
            log.warning("review notification failed", error=type(exc).__name__)
            return Response(status_code=503)
        log.info("review notification", signed=result.signed, rejected=result.rejected)
        return Response(status_code=200)

    @router.post("", include_in_schema=False)
    async def notify(request: Request) -> Response:
        return await handle(request)

    @router.put("/{resource_type}/{resource_id}", include_in_schema=False)
    async def notify_resource(request: Request, resource_type: str, resource_id: str) -> Response:
        return await handle(request)

    return router
