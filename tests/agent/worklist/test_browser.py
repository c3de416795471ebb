"""The worklist in a real browser: Playwright drives Debian's chromium (never a downloaded one) against the agent's
web app served by uvicorn, with drafts the real worker posted to the sandbox FHIR server (sekmet-fhir).

Screenshots of the worklist and the draft page go to ``out/screenshots/`` (``RTLETTER_TEST_OUT`` overrides ``out``).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rtletter.agent.config import Settings, load_settings
from rtletter.agent.jobs import JobStore, Status
from rtletter.agent.worklist.users import UserStore
from rtletter.demo.sandbox import DEFAULT_SEKMET, FhirSandbox, free_port
from tests.agent.worklist.worklist_support import FAST_HASHER, PASSWORD

pytestmark = pytest.mark.integration
# The courses are loaded before the agent starts; a site's agent takes only later changes (poll_start).
LOADED_FROM = "2000-01-01T00:00:00Z"

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
PATIENTS = 4
OUT = Path(os.environ.get("RTLETTER_TEST_OUT", ROOT / "out")) / "screenshots"


@dataclass
class Agent:
    settings: Settings
    store: JobStore
    fhir: str
    url: str  # the worklist, e.g. http://127.0.0.1:40123/worklist


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """Sandbox FHIR server with synthetic finished courses, drafts posted by the real worker, the web app serving."""
    from rtletter.agent.metrics import AgentMetrics
    from rtletter.agent.service import build_worker
    from rtletter.agent.web.app import WebServer, create_app
    from rtletter.demo.cohort import write_cohort

    if not DEFAULT_SEKMET.exists():
        pytest.fail(f"{DEFAULT_SEKMET} missing: run `make sandbox`")
    work = tmp_path_factory.mktemp("worklist-browser")
    write_cohort(work / "cohort", n=PATIENTS, seed=11, lang="de")
    manifest = json.loads((work / "cohort" / "manifest.json").read_text(encoding="utf-8"))
    with FhirSandbox(work / "fhir") as sandbox:
        for patient in manifest["patients"]:
            sandbox.load(json.loads((work / "cohort" / patient["patient_id"] / "bundle.json").read_text("utf-8")))
        config = {
            "database": {"url": f"sqlite:///{work / 'rtletter.db'}"},
            "channels": {"fhir": {"base_url": sandbox.base_url, "poll_overlap_s": 0, "poll_start": LOADED_FROM}},
            "model": {"backend": "template"},
            "scheduler": {"backfill_cron": None},
            "worklist": {"cookie_secure": False},  # plain HTTP on loopback
        }
        (work / "agent.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        settings = load_settings(work / "agent.yaml")
        worker = build_worker(settings)
        worker.poll_channels()
        drained = worker.drain()
        assert drained.posted >= 2, drained
        store = worker.store
        users = UserStore(store, hasher=FAST_HASHER)
        users.create_tables()
        users.add_user("anna", "physician", PASSWORD, display_name="Dr. Anna Arzt", practitioner="Practitioner/anna")
        users.add_user("victor", "viewer", PASSWORD)
        # The app as the agent builds it: the worklist router and its review actions on the worker's channels.
        app = create_app(store, AgentMetrics(), channels=worker.channels, settings=settings)
        port = free_port()
        server = WebServer(app, "127.0.0.1", port).start()
        try:
            yield Agent(settings, store, sandbox.base_url, f"http://127.0.0.1:{port}/worklist")
        finally:
            server.stop()
            for channel in worker.channels.values():
                close = getattr(channel, "close", None)
                if close is not None:
                    close()
            store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a 13-inch laptop
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def log_in(page: Any, agent: Agent, name: str) -> None:
    page.goto(f"{agent.url}/")
    assert page.url.startswith(f"{agent.url}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{agent.url}/")


def fhir_read(agent: Agent, reference: str) -> dict[str, Any]:
    answer = httpx.get(f"{agent.fhir}/{reference}", headers={"Accept": "application/fhir+json"}, timeout=10)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()
    return data


def open_draft(page: Any, agent: Agent, job_id: int) -> None:
    page.click(f"a[href='/worklist/drafts/{job_id}']")
    page.wait_for_url(f"{agent.url}/drafts/{job_id}*")


def posted(agent: Agent) -> list[Any]:
    return sorted(agent.store.list_jobs(Status.posted), key=lambda job: job.id)


def test_physician_edits_and_signs_and_the_fhir_server_has_the_final_letter(page: Any, agent: Agent) -> None:
    log_in(page, agent, "anna")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "worklist.png"), full_page=True)
    assert page.locator("a.nav[href='/worklist/dashboard']").count() == 1
    job = posted(agent)[0]
    open_draft(page, agent, job.id)
    assert page.input_value("#letter-text") == job.draft_text
    page.screenshot(path=str(OUT / "draft.png"), full_page=True)

    edited = job.draft_text.rstrip() + "\n\nErgänzung: Nachsorge in unserer Ambulanz in 6 Wochen.\n"
    page.fill("#letter-text", edited)
    page.click("#sign")
    page.wait_for_url(re.compile(r".*/drafts/\d+\?done=signed$"))
    assert "Letter signed." in page.inner_text("main")

    signed = agent.store.get_job(job.id)
    assert signed is not None and signed.status == Status.signed
    document = fhir_read(agent, job.posted_document)
    assert document["docStatus"] == "final"
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode("utf-8")
    assert text == edited
    assert document["authenticator"]["reference"] == "Practitioner/anna"
    task = fhir_read(agent, job.posted_task)
    assert task["status"] == "completed"
    what = [(r["actor"], r["what"], r["entity_id"]) for r in agent.store.audit_rows(limit=10_000)]
    mine = [w for w in what if w[0].startswith("user:") and w[2] == str(job.id)]
    assert mine == [  # each action audited once, by the sign-off service
        ("user:anna", "edit saved", str(job.id)),
        ("user:anna", "signed via worklist", str(job.id)),
    ]
    what = [(actor, text) for actor, text, _ in what]
    assert ("web:anna", f"draft {job.id} viewed in the worklist") in what
    page.click("a.nav[href='/worklist/dashboard']")  # the feedback dashboard now counts the signed letter
    page.wait_for_url(f"{agent.url}/dashboard")
    assert "Feedback" in page.inner_text("h1")


def test_physician_rejects_with_a_reason(page: Any, agent: Agent) -> None:
    log_in(page, agent, "anna")
    job = posted(agent)[-1]
    # A POST without the CSRF token (a forged cross-site form), even with the physician's session cookie: refused.
    forged = page.request.post(f"{agent.url}/drafts/{job.id}/reject", form={"reason": "forged"})
    assert forged.status == 403
    open_draft(page, agent, job.id)
    page.fill("textarea[name=reason]", "Falscher Kurs: die Boost-Serie fehlt.")
    page.click("#reject")
    page.wait_for_url(re.compile(r".*/drafts/\d+\?done=rejected$"))
    assert "Draft rejected." in page.inner_text("main")
    task = fhir_read(agent, job.posted_task)
    assert task["status"] == "rejected"
    document = fhir_read(agent, job.posted_document)
    assert document["status"] == "entered-in-error"
    page.goto(f"{agent.url}/")
    assert page.locator(f"a[href='/worklist/drafts/{job.id}']").count() == 0  # no longer awaiting review


def test_viewer_cannot_sign_and_a_forged_post_is_refused(page: Any, agent: Agent) -> None:
    log_in(page, agent, "victor")
    job = posted(agent)[0]
    open_draft(page, agent, job.id)
    assert page.locator("#sign").count() == 0 and page.locator("#reject").count() == 0
    assert page.get_attribute("#letter-text", "readonly") is not None
    token = page.get_attribute("input[name=csrf_token]", "value")
    # The viewer's own session and token, posted by hand: the role check refuses it.
    answer = page.request.post(f"{agent.url}/drafts/{job.id}/sign", form={"text": "x", "csrf_token": token})
    assert answer.status == 403
    # Without the token (what a forged cross-site form would send): refused before the role is even looked at.
    answer = page.request.post(f"{agent.url}/drafts/{job.id}/sign", form={"text": "x"})
    assert answer.status == 403
    after = agent.store.get_job(job.id)
    assert after is not None and after.status == Status.posted
    assert fhir_read(agent, job.posted_task)["status"] == "requested"


def test_no_patient_data_in_any_url_the_browser_saw(page: Any, agent: Agent) -> None:
    from rtletter.mappers.case import Case

    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    log_in(page, agent, "victor")
    for job in posted(agent):
        open_draft(page, agent, job.id)
        page.goto(f"{agent.url}/")
    phi: list[str] = []
    for job in agent.store.list_jobs():
        case = Case.model_validate_json(job.case_json or "")
        phi += [case.patient.id, case.patient.given or "", case.patient.family or ""]
        if case.patient.birth_date:
            phi += [case.patient.birth_date.isoformat(), case.patient.birth_date.strftime("%d.%m.%Y")]
    phi = [value for value in phi if value]
    assert len(seen) > PATIENTS
    for url in seen:
        assert not any(value in url for value in phi), url


def test_saved_edit_is_fact_checked_and_marked(page: Any, agent: Agent) -> None:
    from rtletter.mappers.case import Case, format_gy

    log_in(page, agent, "anna")
    job = posted(agent)[0]
    case = Case.model_validate_json(job.case_json or "")
    volume = next(
        v for v in [*case.course.volumes, *(v for p in case.course.phases for v in p.volumes)] if v.total_dose_gy
    )
    dose = format_gy(volume.total_dose_gy).replace(".", ",")  # type: ignore[arg-type]
    wrong = format_gy(volume.total_dose_gy * 1.04).replace(".", ",")  # type: ignore[operator]
    assert f"{dose} Gy" in (job.draft_text or "")
    open_draft(page, agent, job.id)
    page.fill("#letter-text", (job.draft_text or "").replace(f"{dose} Gy", f"{wrong} Gy", 1))
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r".*/drafts/\d+\?done=saved$"))
    assert "Edit saved." in page.inner_text("main")
    mark = page.locator("mark.contradicted").first
    assert mark.inner_text() == wrong
    assert f"(case: {format_gy(volume.total_dose_gy)}" in (mark.get_attribute("title") or "")  # type: ignore[arg-type]
    assert f"{wrong} Gy" in page.input_value("#letter-text")  # the editor shows the saved edit, not the draft
    page.screenshot(path=str(OUT / "draft-findings.png"), full_page=True)
    after = agent.store.get_job(job.id)
    assert after is not None and after.status == Status.posted
    assert fhir_read(agent, job.posted_document)["docStatus"] == "preliminary"  # an edit is not a signature


def test_regenerate_replaces_the_draft(page: Any, agent: Agent) -> None:
    log_in(page, agent, "anna")
    job = posted(agent)[0]
    open_draft(page, agent, job.id)
    page.click("#regenerate")
    page.wait_for_url(re.compile(r".*/drafts/\d+\?done=regenerated$"))
    assert "A new draft was requested." in page.inner_text("main")
    after = agent.store.get_job(job.id)
    assert after is not None and after.status == Status.posted
    assert after.posted_document != job.posted_document
    assert fhir_read(agent, after.posted_document)["docStatus"] == "preliminary"
    assert fhir_read(agent, job.posted_task)["status"] != "requested"  # the old version's task is closed
