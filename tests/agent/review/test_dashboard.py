"""Feedback figures (review.stats) and the dashboard page (worklist.dashboard) on real signed/rejected drafts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings, Settings, WorklistSettings
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.metrics import AgentMetrics
from rtletter.agent.review import ReviewService, review_store
from rtletter.agent.review.stats import compute, edit_ratio, section_ratios, split_sections, word_distance
from rtletter.agent.web.app import create_app
from rtletter.agent.worklist.dashboard import build_dashboard_router, line_plot, stacked_bars
from rtletter.agent.worklist.routes import build_worklist_router
from rtletter.agent.worklist.users import UserStore
from tests.agent.review.review_helpers import User, posted_job
from tests.factories import fhir_case

LETTER = (
    "Sehr geehrte Frau Kollegin,\n\n"
    "Diagnose: Mammakarzinom links, pT1c pN0.\n\n"
    "Therapie: Radiotherapie der Brust links mit 40,05 Gy in 15 Fraktionen.\n\n"
    "Nebenwirkungen: Radiodermatitis Grad 1.\n\n"
    "Mit freundlichen kollegialen Grüßen"
)
DOCTOR = User("dr.dash", "Practitioner/dr-dash")


def test_word_distance_and_ratio() -> None:
    assert word_distance("a b c".split(), "a x c d".split()) == 2
    assert word_distance([], "a b".split()) == 2
    assert edit_ratio("a b c d", "a b c d") == 0.0
    assert edit_ratio("a b", "c d") == 1.0
    assert edit_ratio("", "") == 0.0


def test_sections_are_compared_with_their_counterparts() -> None:
    parts = split_sections(LETTER)
    assert list(parts)[:2] == ["salutation", "diagnoses"] and "closing" in parts
    final = LETTER.replace("Grad 1", "Grad 2 mit feuchter Epitheliolyse")
    ratios = section_ratios(LETTER, final)
    changed = {name for name, value in ratios.items() if value > 0}
    assert changed and len(changed) == 1  # only the section holding the toxicity
    assert ratios["diagnoses"] == 0.0 and ratios["salutation"] == 0.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def decided(tmp_path: Path) -> Iterator[JobStore]:
    """Three weeks of decisions: two models, edits of growing size, one rejection, known hours to signature."""
    clock = Clock()
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=clock)
    store.create_tables()
    channel = FileChannel(
        FileChannelSettings(inbox=tmp_path / "in", outbox=tmp_path / "out", quarantine=tmp_path / "q", settle_s=0)
    )
    service = ReviewService(store, {"file": channel})
    for week in range(3):
        for i, model in enumerate(("base+a1", "base+a2")):
            clock.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC) + timedelta(weeks=week, hours=i)
            job = posted_job(store, channel, fhir_case(f"d{week}{i}"), text=LETTER, model=model)
            clock.now += timedelta(hours=2 + week)
            if week == 2 and model == "base+a2":
                service.reject(job.id, DOCTOR, "falsch")
            else:
                final = LETTER if model == "base+a1" else LETTER.replace("Grad 1", "Grad 2" + " sehr" * week)
                service.sign(job.id, DOCTOR, final)
    yield store
    store.dispose()


def test_figures_per_model_week_and_section(decided: JobStore) -> None:
    figures = compute(review_store(decided).decided())
    assert (figures.total.signed, figures.total.rejected) == (5, 1)
    a1, a2 = figures.by_model["base+a1"], figures.by_model["base+a2"]
    assert (a1.signed, a1.unchanged, a1.median_ratio) == (3, 3, 0.0)
    assert (a2.signed, a2.rejected, a2.unchanged) == (2, 1, 0)
    assert a2.rejected_share == pytest.approx(1 / 3)
    assert sorted(a1.hours) == pytest.approx([2.0, 3.0, 4.0])
    assert list(figures.by_week) == ["2026-W10", "2026-W11", "2026-W12"]
    assert [g.signed for g in figures.by_week.values()] == [2, 2, 1]
    means = figures.section_means()
    assert means["diagnoses"] == 0.0 and max(means.values()) > 0
    assert figures.via == {"worklist": 6}
    assert list(figures.by_model_week["base+a2"]) == ["2026-W10", "2026-W11", "2026-W12"]
    assert figures.by_model_week["base+a2"]["2026-W12"].rejected == 1


def test_svg_plots_escape_labels_and_scale() -> None:
    svg = stacked_bars(["<w1>", "w2"], [("signed", "#000", [1, 3]), ("rejected", "#f00", [1, 0])], title="t & u")
    assert "<w1>" not in svg and "&lt;w1&gt;" in svg and "t &amp; u" in svg
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]
    assert heights[0] == pytest.approx(heights[1]) and heights[2] == pytest.approx(3 * heights[0], abs=0.2)
    line = line_plot(["a", "b", "c"], [("m1", "#000", [0.5, None, 1.0])], title="x", top_value=1.0)
    assert line.count("<circle") == 2 and "<polyline" not in line  # the gap splits the line
    two = line_plot(["a", "b"], [("m1", "#000", [0.5, 1.0]), ("m<2>", "#f00", [0.2, 0.1])], title="x")
    assert two.count("<polyline") == 2 and "m&lt;2&gt;" in two  # one line per model, with a legend


def _login(client: TestClient, name: str, password: str) -> None:
    page = client.get("/worklist/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post(
        "/worklist/login",
        data={"username": name, "password": password, "csrf_token": token.group(1), "next": "/worklist/"},
    )
    assert answer.status_code == 303


def test_dashboard_page_needs_a_login_and_shows_figures_and_plots(decided: JobStore) -> None:
    users = UserStore(decided, hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    users.create_tables()
    users.add_user("victor", "viewer", "correct horse battery")
    settings = Settings(worklist=WorklistSettings(cookie_secure=False))
    routers = [
        build_worklist_router(decided, settings, users=users),
        build_dashboard_router(decided, settings, users=users),
    ]
    app = create_app(decided, AgentMetrics(), settings=settings, extra_routers=routers)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        assert client.get("/worklist/dashboard").status_code == 303  # to the login page
        _login(client, "victor", "correct horse battery")
        page = client.get("/worklist/dashboard")
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    html = page.text
    assert html.count("<svg") == 4 and "<script" not in html and "style=" not in html
    assert "base+a1" in html and "base+a2" in html and "2026-W12" in html
    assert "Quastenberg" not in html and "Hannelore" not in html  # figures only
    assert any(r["what"] == "feedback dashboard viewed" for r in decided.audit_rows())
