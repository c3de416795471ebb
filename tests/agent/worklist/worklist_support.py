"""Helpers of the worklist tests: posted drafts made by the real worker, logins, CSRF tokens from pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from rtletter.agent.channels.file import FileChannel
from rtletter.agent.config import FileChannelSettings
from rtletter.agent.jobs import JobStore, RetryStrategy, Worker
from rtletter.agent.metrics import AgentMetrics
from rtletter.model import TemplateBackend
from tests.factories import make_case

PASSWORD = "correct horse battery"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)  # argon2id, light for tests


def post_drafts(store: JobStore, folder: Path, n: int, first: int = 0, **overrides: Any) -> list[Any]:
    """Drop ``n`` synthetic cases in a file inbox and run the real worker until each has a posted draft."""
    settings = FileChannelSettings(
        inbox=folder / "inbox", outbox=folder / "outbox", quarantine=folder / "q", settle_s=0
    )
    settings.inbox.mkdir(parents=True, exist_ok=True)
    cases = [make_case(i, **overrides) for i in range(first, first + n)]
    for case in cases:
        (settings.inbox / f"{case.course.id}.case.json").write_text(case.model_dump_json())
    worker = Worker(
        store,
        {"file": FileChannel(settings)},
        TemplateBackend(),
        retry=RetryStrategy(max_attempts=2, base_s=0.0, max_s=0.0),
        metrics=AgentMetrics(),
    )
    worker.poll_channels()
    result = worker.drain()
    assert result.posted == n
    return cases


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    page = client.get("/worklist/login")
    return client.post(
        "/worklist/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(page.text), "next": "/worklist/"},
    )
