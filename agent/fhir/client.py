"""A small synchronous FHIR R4 REST client on httpx: read, search with paging, batch and transaction.

Every failure becomes a ``ChannelError`` (see ``rtletter.agent.errors``) whose message names the method, the resource
type and the HTTP status or transport error, never a patient's data: no ids, no query values, no diagnostics text.
Transient failures (connection refused, timeouts, 5xx, 429) are ``ChannelUnavailable`` so the worker retries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from rtletter.agent.errors import ChannelAuthError, ChannelRejected, ChannelUnavailable

FHIR_JSON = "application/fhir+json"
TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
MAX_PAGES = 100

Resource = dict[str, Any]


class FhirClient:
    """FHIR REST calls against one base URL. ``round_trips`` counts HTTP requests (auth requests included)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout_s: float = TIMEOUT_S,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.round_trips = 0
        self._http = httpx.Client(
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            headers={"Accept": FHIR_JSON, **(headers or {})},
            transport=transport,
            event_hooks={"request": [self._count]},
        )

    def _count(self, request: httpx.Request) -> None:
        self.round_trips += 1

    # --- plumbing -----------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP call; raises ChannelError on transport errors and on 4xx/5xx."""
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else f"{self.base_url}/{path_or_url}"
        what = f"{method} {_resource_type(url, self.base_url)}"
        extra = {"Content-Type": f"{FHIR_JSON}; charset=utf-8"} if json is not None else {}
        try:
            response = self._http.request(method, url, params=params, json=json, headers={**extra, **(headers or {})})
        except httpx.TimeoutException as exc:
            raise ChannelUnavailable(f"{what}: timed out ({type(exc).__name__})", channel="fhir") from exc
        except httpx.TransportError as exc:
            raise ChannelUnavailable(f"{what}: cannot reach the server ({type(exc).__name__})", channel="fhir") from exc
        if response.status_code >= 400:
            raise _status_error(what, response)
        return response

    def _json(self, response: httpx.Response, what: str) -> Resource:
        try:
            body = response.json()
        except ValueError as exc:
            raise ChannelRejected(f"{what}: response is not JSON", channel="fhir", status=response.status_code) from exc
        if not isinstance(body, dict):
            raise ChannelRejected(f"{what}: response is not a FHIR resource", channel="fhir")
        return body

    # --- interactions ---------------------------------------------------------------------------------------------

    def get(self, path: str, params: list[tuple[str, str]] | dict[str, str] | None = None) -> Resource:
        """GET a path under the base (``Subscription/1/$status``) and return the JSON resource."""
        return self._json(self.request("GET", path, params=params), f"GET {path.split('/', 1)[0]}")

    def read(self, resource_type: str, resource_id: str) -> Resource:
        return self._json(self.request("GET", f"{resource_type}/{resource_id}"), f"GET {resource_type}")

    def search(self, resource_type: str, params: list[tuple[str, str]] | dict[str, str]) -> Resource:
        """The first page of a search (a searchset Bundle)."""
        return self._json(self.request("GET", resource_type, params=params), f"GET {resource_type}")

    def next_page(self, bundle: Resource) -> Resource | None:
        """The page behind ``bundle``'s ``next`` link, or None. Links to another server are not followed (they would
        carry our credentials elsewhere)."""
        url = next((link.get("url") for link in bundle.get("link", []) if link.get("relation") == "next"), None)
        if not url:
            return None
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            raise ChannelRejected("search next link points at another server", channel="fhir")
        return self._json(self.request("GET", url), "GET next page")

    def pages(
        self, resource_type: str, params: list[tuple[str, str]] | dict[str, str], max_pages: int = MAX_PAGES
    ) -> Iterator[Resource]:
        """Every page of a search, following ``next`` links."""
        page: Resource | None = self.search(resource_type, params)
        count = 0
        while page is not None and count < max_pages:
            yield page
            count += 1
            page = self.next_page(page)

    def batch(self, bundle: Resource) -> Resource:
        return self._json(self.request("POST", "", json=bundle), "POST batch")

    def transaction(self, bundle: Resource) -> Resource:
        return self._json(self.request("POST", "", json=bundle), "POST transaction")

    def create(self, resource: Resource, *, if_none_exist: str | None = None) -> Resource:
        rtype = str(resource.get("resourceType"))
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else None
        return self._json(self.request("POST", rtype, json=resource, headers=headers), f"POST {rtype}")

    def update(self, resource: Resource) -> Resource:
        rtype = str(resource.get("resourceType"))
        return self._json(self.request("PUT", f"{rtype}/{resource['id']}", json=resource), f"PUT {rtype}")

    def capabilities(self) -> Resource:
        return self._json(self.request("GET", "metadata"), "GET metadata")

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _resource_type(url: str, base_url: str) -> str:
    """The resource type part of a URL, for messages (``Procedure``), never ids or query values."""
    path = urlsplit(url).path
    base_path = urlsplit(base_url).path.rstrip("/")
    if path.startswith(base_path):
        path = path[len(base_path) :]
    first = path.strip("/").split("/", 1)[0]
    return first if first and (first[0].isupper() or first.startswith(("$", "_", "."))) else "[base]"


def _status_error(what: str, response: httpx.Response) -> ChannelAuthError | ChannelRejected | ChannelUnavailable:
    status = response.status_code
    codes = _issue_codes(response)
    message = f"{what}: HTTP {status}{f' ({codes})' if codes else ''}"
    if status in (401, 403):
        return ChannelAuthError(message, channel="fhir", status=status)
    if status >= 500 or status in (408, 429):
        return ChannelUnavailable(message, channel="fhir", status=status)
    return ChannelRejected(message, channel="fhir", status=status)


def _issue_codes(response: httpx.Response) -> str:
    """The OperationOutcome issue codes (``not-found``, ``multiple-matches``): safe to log, unlike diagnostics."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    return ", ".join(dict.fromkeys(str(i.get("code")) for i in body.get("issue", []) if i.get("code")))
