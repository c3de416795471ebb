"""Who is asking: sessions, CSRF, roles and the login rate limit of the worklist.

Two modes (``worklist.auth``):

- ``local``: accounts in the job database (``users.UserStore``, argon2id), a login form, a server-side session whose
  random token sits in an HttpOnly, SameSite=Lax cookie (Secure unless ``cookie_secure: false``): Lax, not Strict,
  so that a link from the EHR opens the draft in the running session; cross-site POSTs carry no cookie either way.
- ``proxy``: a reverse proxy that did the login (OIDC) sends the user name in ``proxy_user_header``; it is believed
  only from ``proxy_hosts``. The role comes from a local account of that name, else ``proxy_default_role``. A
  session is still opened (for its CSRF token) and dropped as soon as the header names someone else.

Every POST carries the session's CSRF token in a form field (synchronizer token); the login form, before a session
exists, uses a double-submit cookie. A request whose ``Origin`` names another site is refused as well.

Failed logins are throttled, never locked: after ``login_max_failures`` failures of one user name from one client
address (``CLIENT_FACTOR`` times as many from one address under any names) each further try must wait
``login_delay_s``, doubling per failure up to ``login_max_delay_s``; a try within the wait is refused unchecked (429)
and does not count, and once the wait is over the right password logs in. So a stranger who knows a physician's name
slows guessing from their own address but cannot keep the physician out. Failures are counted in the database (all
replicas share them). The client address is the TCP peer; ``X-Forwarded-For`` is read only when the peer is one of
``trusted_proxies``, and then its right-most address that is not a trusted proxy (the one our proxy saw), so a client
cannot pick its own address by sending the header.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from rtletter.agent.config import WorklistSettings
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.worklist.users import Failures, Role, Session, User, UserStore

SESSION_COOKIE = "rtletter_session"
LOGIN_COOKIE = "rtletter_login"
CSRF_FIELD = "csrf_token"
CLIENT_FACTOR = 4  # a whole ward may share one address (NAT): the per-address allowance is this many times higher


class LoginRequired(HTTPException):
    """A redirect to the login page. An ``HTTPException``, not an ``AgentError``: FastAPI turns it into the 303
    response; it is the web framework's control flow, not an error the agent reports."""

    def __init__(self, location: str) -> None:
        super().__init__(303, "login required", headers={"Location": location})


@dataclass(frozen=True)
class LoginOutcome:
    session: Session | None
    token: str | None
    error: str | None  # shown on the form: no hint whether the name exists
    status: int
    retry_after: int | None = None  # seconds, for a 429


class Auth:
    def __init__(self, users: UserStore, settings: WorklistSettings, store: JobStore, prefix: str) -> None:
        self.users = users
        self.settings = settings
        self.store = store
        self.prefix = prefix
        self.ttl = timedelta(seconds=settings.session_ttl_s)

    # --- cookies ----------------------------------------------------------------------------------------------------

    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self.prefix or "/",
            httponly=True,
            samesite="lax",  # lax: a link from the EHR arrives logged in; POSTs need the CSRF token anyway
            secure=self.settings.cookie_secure,
        )

    def set_session_cookie(self, response: Response, token: str) -> None:
        self._cookie(response, SESSION_COOKIE, token, int(self.ttl.total_seconds()))

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path=self.prefix or "/",
            httponly=True,
            samesite="lax",
            secure=self.settings.cookie_secure,
        )

    def finish(self, request: Request, response: Response) -> Response:
        """Hand a session opened during this request (proxy mode) to the browser."""
        token = getattr(request.state, "new_session_token", None)
        if token:
            self.set_session_cookie(response, token)
        return response

    # --- who is asking ----------------------------------------------------------------------------------------------

    @staticmethod
    def peer(request: Request) -> str:
        """The TCP peer (uvicorn runs with ``proxy_headers=False``: nothing rewrites it)."""
        return request.client.host if request.client else "unknown"

    def client(self, request: Request) -> str:
        """The client address the login throttle counts: the peer, or what a trusted proxy says it saw."""
        peer = self.peer(request)
        trusted = self.settings.trusted_proxies
        if peer not in trusted:
            return peer
        hops = [hop.strip() for hop in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if hop.strip()]
        return next((hop for hop in reversed(hops) if hop not in trusted), peer)[:64]

    def _proxy_user(self, request: Request) -> User:
        if self.peer(request) not in self.settings.proxy_hosts:
            raise HTTPException(403, "requests must come through the authenticating proxy")
        name = (request.headers.get(self.settings.proxy_user_header) or "").strip()
        if not name:
            raise HTTPException(403, "the proxy sent no user")
        known = self.users.get_user(name)
        return known or User(name=name, role=Role(self.settings.proxy_default_role))

    def session(self, request: Request) -> Session | None:
        cached: Session | None = getattr(request.state, "worklist_session", None)
        if cached is not None:
            return cached
        token = request.cookies.get(SESSION_COOKIE)
        found: Session | None
        if self.settings.auth == "proxy":
            user = self._proxy_user(request)
            found = self.users.get_session(token, proxy_user=user) if token else None
            if found is None:
                token, found = self.users.open_session(user, self.ttl)
                request.state.new_session_token = token
                self.store.audit(f"web:{user.name}", "read", "user", user.name, "session opened (proxy)")
        else:
            found = self.users.get_session(token) if token else None
        request.state.worklist_session = found
        return found

    def require(self, request: Request, permission: str = "view") -> Session:
        """The session of a user allowed ``permission``; a GET without a session is sent to the login page."""
        found = self.session(request)
        if found is None:
            if request.method == "GET":
                raise LoginRequired(f"{self.prefix}/login?next={quote(request.url.path, safe='/')}")
            raise HTTPException(403, "not logged in")
        if not found.user.can(permission):
            self.store.audit(f"web:{found.user.name}", "read", "user", found.user.name, f"refused: {permission}")
            raise HTTPException(403, f"your role ({found.user.role}) may not {permission}")
        return found

    def _check_origin(self, request: Request) -> None:
        # "null" is what a browser sends under a no-referrer policy or from a sandbox: the CSRF token decides then.
        origin = request.headers.get("origin")
        if not origin or origin == "null":
            return
        ours = {request.headers.get("host", "")}
        if self.peer(request) in self.settings.proxy_hosts:  # a proxy may rewrite Host (nginx: $proxy_host)
            ours.add(request.headers.get("x-forwarded-host", "").split(",")[0].strip())
        if urlsplit(origin).netloc not in ours:
            raise HTTPException(403, "cross-site request refused")

    async def form(self, request: Request, session: Session) -> Any:
        """The POSTed form after the CSRF check (403 when the token is missing or wrong)."""
        self._check_origin(request)
        form = await request.form()
        token = form.get(CSRF_FIELD)
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), session.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF token")
        return form

    # --- login ------------------------------------------------------------------------------------------------------

    def login_token(self, request: Request) -> str:
        """The double-submit token of the login form (reused while its cookie lives)."""
        return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)

    def set_login_cookie(self, response: Response, token: str) -> None:
        self._cookie(response, LOGIN_COOKIE, token, 3600)

    def _plain_http(self, request: Request) -> bool:
        """Secure cookies asked for, but this request came over plain HTTP (no TLS-terminating proxy in front)."""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return self.settings.cookie_secure and request.url.scheme == "http" and forwarded != "https"

    async def login(self, request: Request) -> LoginOutcome:
        self._check_origin(request)
        form = await request.form()
        cookie = request.cookies.get(LOGIN_COOKIE) or ""
        token = form.get(CSRF_FIELD)
        if not cookie and self._plain_http(request):
            raise HTTPException(
                403,
                "the browser did not send the login cookie back: worklist.cookie_secure is on, so cookies travel "
                "only over HTTPS; open the worklist over https (cookie_secure: false only for tests on loopback)",
            )
        if not cookie or not isinstance(token, str) or not hmac.compare_digest(token.encode(), cookie.encode()):
            raise HTTPException(403, "missing or wrong CSRF token")
        name = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")
        # argon2 and the database take tens of milliseconds: off the event loop, which also serves notifications.
        return await run_in_threadpool(self._login, name, password, self.client(request))

    def _login(self, name: str, password: str, client: str) -> LoginOutcome:
        wait = self.wait_s(self.users.recent_failures(name, client, timedelta(seconds=self.settings.login_window_s)))
        if wait > 0:  # refused unchecked, and not counted: guessing is slowed, the delay is not driven up
            seconds = math.ceil(wait)
            return LoginOutcome(None, None, f"Too many failed logins. Try again in {seconds} seconds.", 429, seconds)
        user = self.users.authenticate(name, password) if name and password else None
        self.users.record_login(name, client, user is not None)
        if user is None:
            return LoginOutcome(None, None, "Wrong user name or password.", 401)
        token, session = self.users.open_session(user, self.ttl)
        self.store.audit(f"web:{user.name}", "read", "user", user.name, "logged in")
        return LoginOutcome(session, token, None, 303)

    def wait_s(self, failures: Failures) -> float:
        """Seconds until the next try is checked (0: now)."""
        free = self.settings.login_max_failures
        now = self.users.clock()
        return max(
            self._wait(failures.by_pair, free, failures.pair_last, now),
            self._wait(failures.by_client, free * CLIENT_FACTOR, failures.client_last, now),
        )

    def _wait(self, failures: int, free: int, last: datetime | None, now: datetime) -> float:
        if failures < free or last is None:
            return 0.0
        delay: float = min(self.settings.login_delay_s * 2 ** min(failures - free, 32), self.settings.login_max_delay_s)
        return max(0.0, (last - now).total_seconds() + delay)

    def logout(self, request: Request, response: Response) -> None:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.users.close_session(token)
        self.clear_session_cookie(response)
