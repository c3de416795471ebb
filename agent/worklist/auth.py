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
Failed logins per user name and per client address are counted in the database (all replicas share the limit).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from rtletter.agent.config import WorklistSettings
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.worklist.users import Role, Session, User, UserStore

SESSION_COOKIE = "rtletter_session"
LOGIN_COOKIE = "rtletter_login"
CSRF_FIELD = "csrf_token"
CLIENT_FACTOR = 4  # a whole ward may share one address (NAT): the per-address limit is this many times higher


class LoginRequired(HTTPException):
    def __init__(self, location: str) -> None:
        super().__init__(303, "login required", headers={"Location": location})


@dataclass(frozen=True)
class LoginOutcome:
    session: Session | None
    token: str | None
    error: str | None  # shown on the form: no hint whether the name exists
    status: int


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
    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _proxy_user(self, request: Request) -> User:
        if self.client(request) not in self.settings.proxy_hosts:
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
        if self.client(request) in self.settings.proxy_hosts:  # a proxy may rewrite Host (nginx: $proxy_host)
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
        window = timedelta(seconds=self.settings.login_window_s)
        by_name, by_client = self.users.recent_failures(name, client, window)
        limit = self.settings.login_max_failures
        if by_name >= limit or by_client >= limit * CLIENT_FACTOR:
            minutes = max(1, round(self.settings.login_window_s / 60))
            return LoginOutcome(None, None, f"Too many failed logins. Try again in {minutes} minutes.", 429)
        user = self.users.authenticate(name, password) if name and password else None
        self.users.record_login(name, client, user is not None)
        if user is None:
            return LoginOutcome(None, None, "Wrong user name or password.", 401)
        token, session = self.users.open_session(user, self.ttl)
        self.store.audit(f"web:{user.name}", "read", "user", user.name, "logged in")
        return LoginOutcome(session, token, None, 303)

    def logout(self, request: Request, response: Response) -> None:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self.users.close_session(token)
        self.clear_session_cookie(response)
