"""The worklist over HTTP (FastAPI TestClient on the agent's app): login, sessions, CSRF, roles, rate limit, audit,
and no patient data in any URL. Drafts are made by the real worker (file channel, template generator)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rtletter.agent.jobs import JobStore, Status
from rtletter.agent.worklist.users import UserStore
from tests.agent.worklist.worklist_support import PASSWORD, csrf_of, login, post_drafts
from tests.factories import phi_of


class MustNotRun:
    """Fault injection: a review service that fails the test if a refused request reaches it."""

    def __getattr__(self, name: str) -> Any:
        def called(*args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"{name} ran for a request that should have been refused")

        return called


def urls_of(html: str) -> list[str]:
    return re.findall(r'(?:href|action|formaction|src)="([^"]*)"', html)


def test_login_opens_a_session_with_strict_cookies(make_client: Callable[..., TestClient], store: JobStore) -> None:
    client = make_client()
    assert client.get("/worklist/").headers["location"] == "/worklist/login?next=/worklist/"
    form = client.get("/worklist/login")
    assert form.status_code == 200 and "rtletter_login=" in form.headers["set-cookie"]
    answer = login(client, "anna")
    assert answer.status_code == 303 and answer.headers["location"] == "/worklist/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("rtletter_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/worklist" in cookie
    page = client.get("/worklist/")
    assert page.status_code == 200 and "Dr. Anna Arzt" in page.text
    assert page.headers["cache-control"] == "no-store" and "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    actions = [(r["actor"], r["what"]) for r in store.audit_rows()]
    assert ("web:anna", "logged in") in actions and ("web:anna", "worklist viewed (0 drafts)") in actions


def test_secure_cookie_flag_is_the_default(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cookie_secure=True)
    assert "Secure" in client.get("/worklist/login").headers["set-cookie"]


def test_a_login_over_plain_http_with_secure_cookies_names_the_real_cause(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cookie_secure=True)  # the default; the browser keeps a Secure cookie off plain http
    answer = login(client, "anna")
    assert answer.status_code == 403
    assert "cookie_secure" in answer.text and "https" in answer.text and "CSRF" not in answer.text
    behind_tls = client.post(  # a TLS-terminating proxy in front: the real cause is then a missing token cookie
        "/worklist/login", data={"username": "anna", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert behind_tls.status_code == 403 and "CSRF" in behind_tls.text


def test_wrong_password_and_unknown_user_get_the_same_answer(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    wrong = login(client, "anna", "not the password")
    unknown = login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.text and "Wrong user name or password." in unknown.text
    assert "rtletter_session" not in wrong.headers.get("set-cookie", "")


def test_login_is_rate_limited_per_user_name(make_client: Callable[..., TestClient], users: UserStore) -> None:
    client = make_client(login_max_failures=3)
    for _ in range(3):
        assert login(client, "anna", "guess guess guess").status_code == 401
    blocked = login(client, "anna")  # the right password does not help while the limit holds
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert "rtletter_session" not in blocked.headers.get("set-cookie", "")
    assert login(client, "victor").status_code == 303  # another account from the same address still logs in


def test_login_without_its_csrf_token_is_refused(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    client.get("/worklist/login")
    answer = client.post("/worklist/login", data={"username": "anna", "password": PASSWORD})
    assert answer.status_code == 403
    other = client.post("/worklist/login", data={"username": "anna", "password": PASSWORD, "csrf_token": "forged"})
    assert other.status_code == 403


def test_list_shows_drafts_oldest_first_without_phi_in_urls(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    cases = post_drafts(store, tmp_path, 3)
    client = make_client()
    login(client, "victor")
    page = client.get("/worklist/")
    assert page.status_code == 200
    names = [case.patient.name for case in cases]
    positions = [page.text.index(name) for name in names]
    assert positions == sorted(positions)  # drafted in this order: oldest first
    assert "C50.4 Mammakarzinom links" in page.text
    urls = urls_of(page.text)
    drafts = [u for u in urls if u.startswith("/worklist/drafts/")]
    assert len(drafts) == 3
    phi = [value for case in cases for value in phi_of(case)]
    for url in urls:
        assert not any(value in url for value in phi), url
    for job in store.list_jobs():
        assert job.key not in page.text  # the course key stays out of the page's links too


def test_owner_and_status_filters(make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path) -> None:
    from rtletter.agent.worklist.views import owner_key

    post_drafts(store, tmp_path, 2)
    client = make_client()
    login(client, "victor")
    assert client.get("/worklist/?status=signed").text.count("/worklist/drafts/") == 0
    assert client.get("/worklist/?status=all").text.count('href="/worklist/drafts/') == 2
    assert client.get(f"/worklist/?owner={owner_key('nobody')}").text.count('href="/worklist/drafts/') == 0
    assert client.get("/worklist/?status=bogus").status_code == 400


def test_draft_page_shows_letter_facts_and_model(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    (case,) = post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(fhir_base_url="http://fhir.example/fhir", review=MustNotRun())
    login(client, "anna")
    page = client.get(f"/worklist/drafts/{job.id}")
    assert page.status_code == 200
    assert "<textarea" in page.text and "Sign letter" in page.text and "Reject draft" in page.text
    assert "http://fhir.example/fhir/" + (case.course.source or "") in page.text
    assert "40.05 Gy, 2.67 Gy/fx, 15 fx" in page.text
    assert job.draft_meta["model"] in page.text
    assert ("web:anna", f"draft {job.id} viewed in the worklist") in [
        (r["actor"], r["what"]) for r in store.audit_rows()
    ]
    for url in urls_of(page.text):
        assert not any(value in url for value in phi_of(case)), url
    assert client.get("/worklist/drafts/99999").status_code == 404


@pytest.mark.parametrize("action", ["save", "sign", "reject", "regenerate"])
def test_post_without_csrf_token_is_refused(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path, action: str
) -> None:
    post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(review=MustNotRun())
    login(client, "anna")
    data = {"text": "Sehr geehrte Frau Kollegin,", "reason": "wrong course"}
    assert client.post(f"/worklist/drafts/{job.id}/{action}", data=data).status_code == 403
    token = csrf_of(client.get(f"/worklist/drafts/{job.id}").text)
    forged = {**data, "csrf_token": token[:-2] + "xx"}
    assert client.post(f"/worklist/drafts/{job.id}/{action}", data=forged).status_code == 403
    cross = client.post(
        f"/worklist/drafts/{job.id}/{action}", data={**data, "csrf_token": token}, headers={"Origin": "https://evil"}
    )
    assert cross.status_code == 403
    assert store.get_job(job.id).status == Status.posted  # type: ignore[union-attr]


def test_post_without_a_session_is_refused(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(review=MustNotRun())
    assert client.post(f"/worklist/drafts/{job.id}/sign", data={"text": "x", "csrf_token": "x"}).status_code == 403


def test_viewer_cannot_sign_reject_or_edit(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(review=MustNotRun())
    login(client, "victor")
    page = client.get(f"/worklist/drafts/{job.id}")
    assert page.status_code == 200 and "readonly" in page.text
    assert "Sign letter" not in page.text and "Reject draft" not in page.text and "Save edit" not in page.text
    token = csrf_of(page.text)
    for action in ("sign", "reject", "save", "regenerate"):
        answer = client.post(
            f"/worklist/drafts/{job.id}/{action}", data={"text": "x", "reason": "y", "csrf_token": token}
        )
        assert answer.status_code == 403, action
    refused = [r["what"] for r in store.audit_rows() if r["actor"] == "web:victor"]
    assert "refused: sign" in refused


def test_logout_ends_the_session(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    login(client, "anna")
    page = client.get("/worklist/")
    cookie = client.cookies.get("rtletter_session")
    assert client.post("/worklist/logout", data={}).status_code == 403  # needs its CSRF token too
    answer = client.post("/worklist/logout", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    replay = make_client()
    replay.cookies.set("rtletter_session", cookie or "", path="/worklist")
    assert replay.get("/worklist/").status_code == 303  # the old token opens nothing


def test_login_redirects_only_to_worklist_pages(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    page = client.get("/worklist/login")
    answer = client.post(
        "/worklist/login",
        data={"username": "anna", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "//evil.example/"},
    )
    assert answer.headers["location"] == "/worklist/"


def test_proxy_mode_trusts_the_header_only_from_the_proxy(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    post_drafts(store, tmp_path, 1)
    (job,) = store.list_jobs(Status.posted)
    client = make_client(auth="proxy", proxy_hosts=("testclient",), review=MustNotRun())
    page = client.get(f"/worklist/drafts/{job.id}", headers={"X-Forwarded-User": "anna"})
    assert page.status_code == 200 and "Sign letter" in page.text  # role from anna's account
    unknown = client.get(f"/worklist/drafts/{job.id}", headers={"X-Forwarded-User": "someone"})
    assert unknown.status_code == 200 and "Sign letter" not in unknown.text  # default role: viewer
    assert client.get("/worklist/").status_code == 403  # no header
    untrusted = make_client(auth="proxy", proxy_hosts=("10.0.0.1",))
    assert untrusted.get("/worklist/", headers={"X-Forwarded-User": "anna"}).status_code == 403


def test_a_new_password_ends_open_sessions(users: UserStore) -> None:
    from datetime import timedelta

    anna = users.get_user("anna")
    assert anna is not None and anna.role == "physician"
    token, _ = users.open_session(anna, timedelta(hours=1))
    assert users.get_session(token) is not None
    users.set_password("anna", "another long password")
    assert users.get_session(token) is None


def test_origin_behind_a_proxy_that_rewrites_host(make_client: Callable[..., TestClient]) -> None:
    client = make_client(proxy_hosts=("testclient",))
    page = client.get("/worklist/login")
    data = {"username": "anna", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/worklist/"}
    public = {"Origin": "https://rt.klinik.example", "X-Forwarded-Host": "rt.klinik.example"}
    assert client.post("/worklist/login", data=data, headers=public).status_code == 303
    other = make_client()  # the same headers from a client that is not the proxy: X-Forwarded-Host is not believed
    page = other.get("/worklist/login")
    data["csrf_token"] = csrf_of(page.text)
    assert other.post("/worklist/login", data=data, headers=public).status_code == 403


def test_login_is_rate_limited_per_client_address(make_client: Callable[..., TestClient], users: UserStore) -> None:
    client = make_client(login_max_failures=1)  # the per-address limit is 4 times the per-name one
    for name in ("a1", "a2", "a3", "a4"):
        assert login(client, name, "guess guess guess").status_code == 401
    assert login(client, "victor").status_code == 429  # a fresh name from the same address: blocked too


def test_mine_lists_the_drafts_whose_task_the_user_owns(
    make_client: Callable[..., TestClient], store: JobStore, tmp_path: Path
) -> None:
    from rtletter.mappers.case import Physician

    anna = Physician(prefix="Dr.", given="Anna", family="Arzt", source="Practitioner/anna/_history/3")
    other = Physician(prefix="Dr.", given="Otto", family="Other", source="Practitioner/otto/_history/1")
    post_drafts(store, tmp_path / "a", 1, treating_physician=anna)
    post_drafts(store, tmp_path / "b", 1, first=1, treating_physician=other)
    client = make_client()
    login(client, "anna")  # Practitioner/anna
    assert client.get("/worklist/").text.count('href="/worklist/drafts/') == 2
    mine = client.get("/worklist/?owner=mine").text
    assert mine.count('href="/worklist/drafts/') == 1 and "Dr. Anna Arzt" in mine
    login(viewer := make_client(), "victor")  # no practitioner: no "mine" to choose, and nothing is "mine"
    page = viewer.get("/worklist/?owner=mine").text
    assert page.count('href="/worklist/drafts/') == 0 and '<option value="mine"' not in page


class Clock:
    """The store's clock, moved by the test (the throttle's delays are minutes in real time)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> Any:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


def test_bad_passwords_slow_down_but_never_lock_out_the_right_one(
    make_client: Callable[..., TestClient], users: UserStore
) -> None:
    clock = Clock()
    users.clock = clock
    client = make_client(login_max_failures=3, login_delay_s=10, login_max_delay_s=40)
    for _ in range(3):  # a stranger who knows the name: the free failures
        assert login(client, "anna", "guess guess guess").status_code == 401
    refused = login(client, "anna")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "10"
    clock.advance(11)
    assert login(client, "anna", "guess again").status_code == 401  # the 4th failure: the next delay is 20 s
    clock.advance(11)
    assert login(client, "anna").status_code == 429  # within the grown delay, even the right password waits
    clock.advance(10)
    assert login(client, "anna").status_code == 303  # after it, the right password passes: no lock-out
    for _ in range(6):  # the delay stops growing at login_max_delay_s
        clock.advance(60)
        assert login(client, "anna", "guess guess guess").status_code == 401
    assert login(client, "anna").headers["retry-after"] == "40"


def test_a_stranger_elsewhere_does_not_slow_the_physician(
    make_client: Callable[..., TestClient], users: UserStore
) -> None:
    users.clock = Clock()
    proxy = make_client(login_max_failures=2, trusted_proxies=("testclient",))  # the TestClient's peer is the proxy
    stranger = {"X-Forwarded-For": "10.6.6.6"}
    for _ in range(5):
        page = proxy.get("/worklist/login")
        data = {"username": "anna", "password": "guess", "csrf_token": csrf_of(page.text), "next": "/worklist/"}
        assert proxy.post("/worklist/login", data=data, headers=stranger).status_code in (401, 429)
    page = proxy.get("/worklist/login")
    data = {"username": "anna", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/worklist/"}
    assert proxy.post("/worklist/login", data=data, headers=stranger).status_code == 429
    ward = {"X-Forwarded-For": "10.1.2.3"}
    assert proxy.post("/worklist/login", data=data, headers=ward).status_code == 303


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    make_client: Callable[..., TestClient], users: UserStore
) -> None:
    users.clock = Clock()
    direct = make_client(login_max_failures=1)  # no trusted proxies: the header is the client's word only
    for number in range(4):  # rotating the header does not make new clients
        page = direct.get("/worklist/login")
        data = {"username": f"a{number}", "password": "guess", "csrf_token": csrf_of(page.text), "next": "/worklist/"}
        headers = {"X-Forwarded-For": f"10.0.0.{number}"}
        assert direct.post("/worklist/login", data=data, headers=headers).status_code == 401
    page = direct.get("/worklist/login")
    data = {"username": "victor", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/worklist/"}
    assert direct.post("/worklist/login", data=data, headers={"X-Forwarded-For": "10.9.9.9"}).status_code == 429
    proxied = make_client(login_max_failures=1, trusted_proxies=("testclient", "10.0.0.254"))
    page = proxied.get("/worklist/login")
    data["csrf_token"] = csrf_of(page.text)
    # a client's own value stands left of what the proxies appended: the right-most untrusted hop counts
    chain = {"X-Forwarded-For": "10.0.0.0, 10.9.9.9, 10.0.0.254"}
    assert proxied.post("/worklist/login", data=data, headers=chain).status_code == 303


def test_through_uvicorn_a_rotating_x_forwarded_for_does_not_escape_the_throttle(
    store: JobStore, users: UserStore
) -> None:
    import httpx

    from rtletter.agent.config import Settings, WorklistSettings
    from rtletter.agent.metrics import AgentMetrics
    from rtletter.agent.web.app import WebServer, create_app
    from rtletter.agent.worklist.routes import build_worklist_router
    from rtletter.demo.sandbox import free_port

    settings = Settings(worklist=WorklistSettings(cookie_secure=False, login_max_failures=1))
    router = build_worklist_router(store, settings, users=users)
    port = free_port()
    server = WebServer(create_app(store, AgentMetrics(), extra_routers=[router]), "127.0.0.1", port).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:

            def attempt(name: str, password: str, forwarded: str) -> int:
                page = http.get("/worklist/login")
                data = {"username": name, "password": password, "csrf_token": csrf_of(page.text), "next": "/worklist/"}
                return http.post("/worklist/login", data=data, headers={"X-Forwarded-For": forwarded}).status_code

            assert [attempt(f"a{n}", "guess", f"10.0.0.{n}") for n in range(4)] == [401] * 4
            assert attempt("victor", PASSWORD, "10.9.9.9") == 429  # the peer is 127.0.0.1 whatever the header says
    finally:
        server.stop()
