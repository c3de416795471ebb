"""One error tree: every exception the agent defines is an ``AgentError`` (whose messages are PHI-free and which
the CLI turns into one line), except the web framework's redirect to the login page."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import rtletter.agent
from rtletter.agent.errors import AgentError

# HTTPException subclasses are FastAPI's control flow (a 303 to the login page), not errors the agent reports.
OUTSIDE_THE_TREE = {"rtletter.agent.worklist.auth.LoginRequired"}


def _agent_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(rtletter.agent.__path__, "rtletter.agent."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_agent_exception_is_an_agent_error() -> None:
    found = _agent_exceptions()
    assert "rtletter.agent.hl7v2.client.MllpClientError" in found  # the walk reaches the subpackages
    assert sorted(name for name, cls in found.items() if not issubclass(cls, AgentError)) == sorted(OUTSIDE_THE_TREE)
