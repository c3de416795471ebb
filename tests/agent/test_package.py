"""The curated ``rtletter.agent`` API: every name in ``__all__`` resolves, and importing the package (or its errors)
stays cheap: no SQLAlchemy, web framework or model before a name that needs them is used."""

from __future__ import annotations

import subprocess
import sys

import rtletter.agent


def test_every_public_name_resolves() -> None:
    missing = [name for name in rtletter.agent.__all__ if getattr(rtletter.agent, name, None) is None]
    assert missing == []
    assert rtletter.agent.JobStore.__module__ == "rtletter.agent.jobs.store"
    assert issubclass(rtletter.agent.ReviewRefused, rtletter.agent.AgentError)


def test_importing_the_package_loads_no_heavy_module() -> None:
    heavy = ("sqlalchemy", "fastapi", "pydantic_settings", "httpx", "torch", "rtletter.model")
    code = f"import sys, rtletter.agent; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
