"""The worklist's routes: login, the list of drafts, the draft page and its actions.

URLs carry job ids only (never names, MRNs or dates); filters use opaque owner keys. Every page that shows patient
data is audited (``JobStore.audit``: who, what, when) and sent with ``Cache-Control: no-store``. No script runs on the
pages (CSP ``script-src 'none'``); the forms work with plain HTML. The buttons call the sign-off service
(``rtletter.agent.review.ReviewService``), which audits the actions; a ``ReviewRefused`` is shown on the page (409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from rtletter.agent.config import WorklistSettings
from rtletter.agent.errors import ReviewRefused
from rtletter.agent.jobs.job import Flag, Job, Status
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger
from rtletter.agent.worklist import views
from rtletter.agent.worklist.auth import Auth
from rtletter.agent.worklist.pages import HERE, SECURITY_HEADERS, render_page
from rtletter.agent.worklist.users import Session, UserStore

if TYPE_CHECKING:
    from rtletter.agent.review.service import ReviewService

log = get_logger("rtletter.agent.worklist")
LIST_LIMIT = 1000
REVIEWABLE = (Status.posted,)  # a draft waiting for sign-off
DONE_MESSAGES = {
    "saved": "Edit saved.",
    "signed": "Letter signed.",
    "rejected": "Draft rejected.",
    "regenerated": "A new draft was requested.",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_worklist_router(
    store: JobStore,
    settings: Any = None,
    *,
    review: ReviewService | None = None,
    users: UserStore | None = None,
    channels: Mapping[str, Any] | None = None,
    generator: Any = None,
    prefix: str = "/worklist",
    clock: Callable[[], datetime] = _utcnow,
) -> APIRouter:
    """The worklist router. ``settings``: the agent ``Settings`` (its ``worklist`` section and the FHIR base URL for
    source links); None for the defaults. ``review``: the sign-off service the buttons call; None: the agent's own
    (``build_review_service`` on ``channels`` and ``generator``: pass the running worker's so that a regeneration
    does not load the model twice); a read-only page where there is none (the buttons answer 503)."""
    config: WorklistSettings = getattr(settings, "worklist", None) or WorklistSettings()
    fhir_base = _fhir_base(settings, config)
    if review is None:
        from rtletter.agent.review.service import build_review_service

        review = build_review_service(store, settings, channels=channels or None, generator=generator)
    if users is None:
        users = UserStore(store)
        users.create_tables()
    auth = Auth(users, config, store, prefix)
    router = APIRouter(prefix=prefix)

    def page(request: Request, template: str, session: Session | None, code: int = 200, **context: Any) -> Response:
        return render_page(
            auth, request, template, session, prefix=prefix, proxy=config.auth == "proxy", code=code, **context
        )

    def redirect(request: Request, location: str) -> Response:
        return auth.finish(request, RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS))

    def job_or_404(job_id: int) -> Job:
        job = store.get_job(job_id)
        if job is None or job.draft_text is None:
            raise HTTPException(404, "no such draft")
        return job

    def actor(session: Session) -> str:
        return f"web:{session.user.name}"

    # --- static and login -------------------------------------------------------------------------------------------

    css = (HERE / "static" / "worklist.css").read_bytes()

    @router.get("/static/worklist.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @router.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "") -> Response:
        if config.auth == "proxy":
            return redirect(request, f"{prefix}/")
        token = auth.login_token(request)
        response = page(request, "login.html", None, token=token, next=_safe_next(next, prefix), error=None)
        auth.set_login_cookie(response, token)
        return response

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if config.auth == "proxy":
            raise HTTPException(404, "logins are done by the proxy")
        outcome = await auth.login(request)
        form = await request.form()
        target = _safe_next(str(form.get("next") or ""), prefix)
        if outcome.session is None or outcome.token is None:
            token = auth.login_token(request)
            answer = page(request, "login.html", None, outcome.status, token=token, next=target, error=outcome.error)
            if outcome.retry_after is not None:
                answer.headers["Retry-After"] = str(outcome.retry_after)
            return answer
        response = redirect(request, target)
        auth.set_session_cookie(response, outcome.token)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = auth.require(request, "view")
        await auth.form(request, session)
        response = RedirectResponse(f"{prefix}/login", status_code=303, headers=SECURITY_HEADERS)
        auth.logout(request, response)
        store.audit(actor(session), "read", "user", session.user.name, "logged out")
        return response

    # --- the list ---------------------------------------------------------------------------------------------------

    @router.get("", include_in_schema=False)
    def root(request: Request) -> Response:
        return redirect(request, f"{prefix}/")

    @router.get("/", include_in_schema=False)
    def worklist(request: Request, status: str = "posted", owner: str = "") -> Response:
        session = auth.require(request, "view")
        if status != "all" and status not in Status.__members__:
            raise HTTPException(400, "unknown status filter")
        now = clock()
        jobs = store.list_jobs(None if status == "all" else Status(status), LIST_LIMIT)
        rows = [views.row_of(job, now) for job in jobs if job.draft_text is not None]
        owners = sorted({(r.owner, r.owner_key) for r in rows if r.owner})
        if owner == "mine":
            rows = [r for r in rows if r.owner_reference and r.owner_reference == session.user.practitioner]
        elif owner:
            rows = [r for r in rows if r.owner_key == owner]
        rows.sort(key=views.list_order)  # flagged drafts first, then oldest first
        store.audit(actor(session), "read", "worklist", status, f"worklist viewed ({len(rows)} drafts)")
        statuses = ["posted", "signed", "superseded", "all"] + [
            s for s in Status.__members__ if s not in ("posted", "signed", "superseded", "received", "context_fetched")
        ]
        return page(
            request, "list.html", session, rows=rows, owners=owners, status=status, owner=owner, statuses=statuses
        )

    # --- one draft --------------------------------------------------------------------------------------------------

    @router.get("/drafts/{job_id}", include_in_schema=False)
    def draft(request: Request, job_id: int, done: str = "") -> Response:
        session = auth.require(request, "view")
        job = job_or_404(job_id)
        store.audit(actor(session), "read", "draft", job.key, f"draft {job.id} viewed in the worklist")
        return page(
            request,
            "draft.html",
            session,
            **_draft_context(store, job, fhir_base, prefix, clock()),
            message=DONE_MESSAGES.get(done),
            error=None,
            actions=review is not None,
        )

    @router.get("/drafts/{job_id}/message", include_in_schema=False)
    def message(request: Request, job_id: int) -> Response:
        session = auth.require(request, "view")
        job = job_or_404(job_id)
        inbound = store.get_inbound(job.inbound_id) if job.inbound_id is not None else None
        if inbound is None:
            raise HTTPException(404, "the source message is not stored")
        store.audit(actor(session), "read", "inbound", inbound.id, f"source message of draft {job.id} viewed")
        text = _hl7_text(inbound.payload) if "hl7" in inbound.content_type else None
        lines = text.split("\r") if text is not None else []
        body = inbound.payload.decode("utf-8", "replace") if text is None else ""
        anchored: list[tuple[str, str]] = []
        for line in (ln for ln in lines if ln):
            anchor = f"seg-{line[:3]}"
            anchored.append((line, anchor if all(a != anchor for _, a in anchored) else ""))
        return page(request, "message.html", session, job=job, inbound=inbound, lines=anchored, body=body)

    async def act(request: Request, job_id: int, permission: str, run: Callable[[Session, Any], str]) -> Response:
        session = auth.require(request, permission)
        form = await auth.form(request, session)
        job = job_or_404(job_id)
        if review is None:
            raise HTTPException(503, "review actions are not available on this server")
        try:
            # FHIR transactions and a regeneration (the model) take long: off the event loop.
            done = await run_in_threadpool(run, session, form)
        except ReviewRefused as exc:  # audited by the service
            current = store.get_job(job_id) or job
            context = _draft_context(store, current, fhir_base, prefix, clock())
            if "text" in form:  # keep what the physician typed
                context["text"] = str(form["text"])
            return page(request, "draft.html", session, 409, **context, message=None, error=str(exc), actions=True)
        log.info("worklist action", action=permission, job_id=job_id)
        return redirect(request, f"{prefix}/drafts/{job_id}?done={done}")

    def _text(form: Any) -> str:
        return str(form.get("text") or "").replace("\r\n", "\n")

    @router.post("/drafts/{job_id}/save", include_in_schema=False)
    async def save(request: Request, job_id: int) -> Response:
        def run(session: Session, form: Any) -> str:
            assert review is not None
            review.save_edit(job_id, session.user, _text(form))
            return "saved"

        return await act(request, job_id, "edit", run)

    @router.post("/drafts/{job_id}/sign", include_in_schema=False)
    async def sign(request: Request, job_id: int) -> Response:
        def run(session: Session, form: Any) -> str:
            assert review is not None
            review.sign(
                job_id,
                session.user,
                _text(form),
                acknowledge_course_change=form.get("acknowledge_course_change") == "yes",
                acknowledge_findings=form.get("acknowledge_findings") == "yes",
            )
            return "signed"

        return await act(request, job_id, "sign", run)

    @router.post("/drafts/{job_id}/reject", include_in_schema=False)
    async def reject(request: Request, job_id: int) -> Response:
        def run(session: Session, form: Any) -> str:
            assert review is not None
            review.reject(job_id, session.user, str(form.get("reason") or "").strip())
            return "rejected"

        return await act(request, job_id, "reject", run)

    @router.post("/drafts/{job_id}/regenerate", include_in_schema=False)
    async def regenerate(request: Request, job_id: int) -> Response:
        def run(session: Session, form: Any) -> str:
            assert review is not None
            review.regenerate(job_id, session.user)
            return "regenerated"

        return await act(request, job_id, "regenerate", run)

    return router


def _hl7_text(payload: bytes) -> str:
    """The message as the mapper read it (MSH-18 decides the character set); latin-1 when it cannot be read."""
    from rtletter.mappers.errors import MappingError
    from rtletter.mappers.hl7v2.message import decode

    try:
        return decode(payload)[0]
    except MappingError:
        return payload.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r")


def _fhir_base(settings: Any, config: WorklistSettings) -> str | None:
    if config.fhir_base_url is not None:
        return str(config.fhir_base_url).rstrip("/")
    fhir = getattr(getattr(settings, "channels", None), "fhir", None)
    return str(fhir.base_url).rstrip("/") if fhir is not None else None


def _safe_next(target: str, prefix: str) -> str:
    """Only our own pages after a login (no open redirect)."""
    if target.startswith(f"{prefix}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{prefix}/"


def _draft_context(store: JobStore, job: Job, fhir_base: str | None, prefix: str, now: datetime) -> dict[str, Any]:
    from rtletter.agent.review import review_store

    review = review_store(store).get(job.id)
    case = views.load_case(job)
    # What the physician works on: the signed text, else the last saved edit, else the draft as generated.
    text = review.final_text or review.current_text or job.draft_text or ""
    message_url = f"{prefix}/drafts/{job.id}/message" if job.inbound_id is not None else None
    report = views.fact_report(case, text) if case is not None else None
    highlighted = views.highlight(case, text, report.findings) if case is not None and report is not None else None
    facts = views.source_facts(case, fhir_base=fhir_base, message_url=message_url) if case else []
    sections: dict[str, list[views.SourceFact]] = {}
    # The values the model's slots were filled with first: what the physician checks in the letter, and from where.
    for fact in [*views.slot_values(job.draft_meta, fhir_base=fhir_base, message_url=message_url), *facts]:
        sections.setdefault(fact.section, []).append(fact)
    return {
        "job": job,
        "row": views.row_of(job, now),
        "text": text,
        "report": report,
        "highlighted": highlighted,
        "sections": sections,
        "model": views.draft_model(job.draft_meta),
        "reviewable": job.status in REVIEWABLE,
        "review": review,
        "course_changed": Flag.course_updated_after_draft in job.flags,
    }
