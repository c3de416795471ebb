"""Worklist fixtures: accounts with argon2 hashes (in tests/agent/conftest.py's SQLite job store), and a TestClient
on the agent's web app with the worklist router."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rtletter.agent.config import Settings, WorklistSettings
from rtletter.agent.jobs import JobStore
from rtletter.agent.metrics import AgentMetrics
from rtletter.agent.web.app import create_app
from rtletter.agent.worklist.routes import build_worklist_router
from rtletter.agent.worklist.users import UserStore
from tests.agent.worklist.worklist_support import FAST_HASHER, PASSWORD


@pytest.fixture
def users(store: JobStore) -> UserStore:
    user_store = UserStore(store, hasher=FAST_HASHER)
    user_store.create_tables()
    user_store.add_user("anna", "physician", PASSWORD, display_name="Dr. Anna Arzt", practitioner="Practitioner/anna")
    user_store.add_user("victor", "viewer", PASSWORD)
    return user_store


@pytest.fixture
def make_client(store: JobStore, users: UserStore) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(*, review: Any = None, **worklist: Any) -> TestClient:
        settings = Settings(worklist=WorklistSettings(**{"cookie_secure": False, **worklist}))
        router = build_worklist_router(store, settings, review=review, users=users)
        app = create_app(store, AgentMetrics(), extra_routers=[router])  # settings=None: only this worklist router
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
