"""Authentication to the FHIR server: none, HTTP Basic, a static bearer token, or SMART Backend Services.

SMART Backend Services (SMART App Launch STU 2.2, "Backend Services"): the client posts
``grant_type=client_credentials`` with a ``client_assertion`` JWT signed RS384 or ES384 (``iss`` = ``sub`` =
client_id, ``aud`` = the token URL, ``exp`` at most 5 minutes ahead, a unique ``jti``) and ``system/`` scopes; the
token URL comes from ``[base]/.well-known/smart-configuration`` unless configured. Access tokens live <= 300 s, so
``SmartBackendAuth`` fetches a new one shortly before expiry and once more on a 401.

All of it is an ``httpx.Auth`` flow: discovery and token requests travel through the same client (and are counted as
round trips like any other request).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import jwt

from rtletter.agent.errors import ChannelAuthError, ConfigError

AuthKind = Literal["none", "basic", "bearer", "smart", "smart-backend"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300  # SMART: exp no more than five minutes in the future
REFRESH_MARGIN_S = 30.0  # fetch a new token this long before the old one expires
# Read what a letter needs (course, patient, diagnoses, observations, care team, ...: too many types to list, and
# the context fetch grows), write only the draft set: DocumentReference, Provenance, Task and the AI Device. No
# delete. Conditional creates need search on the written types, which *.rs covers. SMART v2 syntax; a v1-only
# server takes "system/*.read system/DocumentReference.write ..." in the site's config.
DEFAULT_SCOPE = "system/*.rs system/DocumentReference.cu system/Provenance.cu system/Task.cu system/Device.cu"
SIGNING_ALGORITHMS = ("RS384", "ES384")


@dataclass(frozen=True)
class AuthSettings:
    kind: AuthKind = "none"
    username: str | None = None
    password: str | None = None
    token: str | None = None
    client_id: str | None = None
    private_key_pem: str | None = None  # PEM text; or private_key_path
    private_key_path: Path | None = None
    key_id: str | None = None
    algorithm: str = "RS384"
    scope: str = DEFAULT_SCOPE
    token_url: str | None = None  # discovered when empty


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class SmartBackendAuth(httpx.Auth):
    """Client credentials with private_key_jwt; the access token is cached and renewed before it expires."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        private_key_pem: str,
        *,
        algorithm: str = "RS384",
        key_id: str | None = None,
        scope: str = DEFAULT_SCOPE,
        token_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,  # for token expiry only
    ) -> None:
        if algorithm not in SIGNING_ALGORITHMS:
            raise ConfigError(f"SMART backend signing algorithm must be one of {SIGNING_ALGORITHMS}, not {algorithm}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._key = private_key_pem
        self.algorithm = algorithm
        self.key_id = key_id
        self.scope = scope
        self.token_url = token_url
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_fetched = 0

    def client_assertion(self, token_url: str) -> str:
        now = int(time.time())  # the server checks exp against its own clock: use the real one
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME_S,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at - REFRESH_MARGIN_S

    def _discover(self) -> Generator[httpx.Request, httpx.Response, str]:
        if self.token_url:
            return self.token_url
        response = yield httpx.Request(
            "GET", f"{self.base_url}/.well-known/smart-configuration", headers={"Accept": "application/json"}
        )
        response.read()
        if response.status_code != 200:
            raise ChannelAuthError(
                f"SMART discovery answered HTTP {response.status_code}", channel="fhir", status=response.status_code
            )
        url = response.json().get("token_endpoint")
        if not isinstance(url, str) or not url:
            raise ChannelAuthError("SMART configuration has no token_endpoint", channel="fhir")
        self.token_url = url
        return url

    def _fetch_token(self) -> Generator[httpx.Request, httpx.Response, None]:
        token_url = yield from self._discover()
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(token_url),
        }
        response = yield httpx.Request("POST", token_url, data=form, headers={"Accept": "application/json"})
        response.read()
        if response.status_code != 200:
            error = _oauth_error(response)
            raise ChannelAuthError(
                f"token endpoint refused the client ({error})", channel="fhir", status=response.status_code
            )
        body = response.json()
        token, lifetime = body.get("access_token"), body.get("expires_in", ASSERTION_LIFETIME_S)
        if not isinstance(token, str):
            raise ChannelAuthError("token response has no access_token", channel="fhir")
        self._token = token
        self._expires_at = self._clock() + float(lifetime)
        self.tokens_fetched += 1

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._fresh():
            yield from self._fetch_token()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one new token, one retry
            yield from self._fetch_token()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def _oauth_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    return str(error) if error else f"HTTP {response.status_code}"


def build_auth(settings: AuthSettings, base_url: str) -> httpx.Auth | None:
    """The httpx auth for the configured kind; ConfigError when a needed setting is missing."""
    if settings.kind == "none":
        return None
    if settings.kind == "basic":
        if settings.username is None or settings.password is None:
            raise ConfigError("fhir auth basic needs username and password")
        return httpx.BasicAuth(settings.username, settings.password)
    if settings.kind == "bearer":
        if not settings.token:
            raise ConfigError("fhir auth bearer needs a token")
        return BearerAuth(settings.token)
    if settings.kind in ("smart", "smart-backend"):
        pem = settings.private_key_pem
        if pem is None and settings.private_key_path is not None:
            try:
                pem = settings.private_key_path.read_text()
            except OSError as exc:
                raise ConfigError(f"cannot read the SMART private key file: {exc.strerror}") from exc
        if not settings.client_id or not pem:
            raise ConfigError("fhir auth smart needs client_id and a private key")
        return SmartBackendAuth(
            base_url,
            settings.client_id,
            pem,
            algorithm=settings.algorithm,
            key_id=settings.key_id,
            scope=settings.scope,
            token_url=settings.token_url,
        )
    raise ConfigError(f"unknown fhir auth kind {settings.kind!r}")
