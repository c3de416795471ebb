"""Real servers for integration tests: the sandbox FHIR server (sekmet-fhir 0.1.1 from ``.sandbox``).

``fhir_server`` is one server per test session (simulator off, database in a tmp folder); tests keep apart by using
their own ids. ``fhir_sandbox_factory`` starts extra servers with other settings (auth, short token lifetimes) and
stops them at the end of the test.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtletter.demo.sandbox import DEFAULT_SEKMET, FhirSandbox

FHIR_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "external" / "fhir"


def _require_sekmet() -> None:
    if not DEFAULT_SEKMET.exists():
        pytest.fail(
            f"{DEFAULT_SEKMET} missing: run `make sandbox` (python3 -m venv .sandbox && pip install sekmet-fhir)"
        )


@pytest.fixture(scope="session")
def fhir_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirSandbox]:
    _require_sekmet()
    with FhirSandbox(tmp_path_factory.mktemp("sekmet")) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def fhir_server(fhir_sandbox: FhirSandbox) -> str:
    """Base URL of the session's sandbox FHIR server, e.g. ``http://127.0.0.1:40123/fhir``."""
    return fhir_sandbox.base_url


@pytest.fixture
def fhir_sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., FhirSandbox]]:
    started: list[FhirSandbox] = []

    def start(settings: dict[str, Any] | None = None) -> FhirSandbox:
        _require_sekmet()
        sandbox = FhirSandbox(tmp_path / f"sekmet-{len(started)}", settings=settings).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


def read_fixture(name: str) -> dict[str, Any]:
    """An external FHIR example bundle (HL7 CodeX RT / mCODE, see fixtures/external/README.md)."""
    data: dict[str, Any] = json.loads((FHIR_FIXTURES / f"{name}.json").read_text())
    return data


def with_fresh_ids(bundle: dict[str, Any], tag: str | None = None) -> dict[str, Any]:
    """A copy of ``bundle`` whose resource ids (and the references to them) carry a unique suffix, so that several
    tests can load the same example into one server without seeing each other's resources."""
    tag = tag or uuid.uuid4().hex[:8]
    out = copy.deepcopy(bundle)
    ids = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in out.get("entry", []) if "resource" in e}
    renamed = {f"{t}/{i}": f"{t}/{i[: 63 - len(tag)]}-{tag}" for t, i in ids}
    text = json.dumps(out)
    for old, new in sorted(renamed.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'"{old}"', f'"{new}"').replace(f'/{old}"', f'/{new}"')
    out = json.loads(text)
    for entry in out.get("entry", []):
        resource = entry["resource"]
        resource["id"] = renamed[f"{resource['resourceType']}/{resource['id']}"].split("/", 1)[1]
    return out


@pytest.fixture
def load_bundle(fhir_sandbox: FhirSandbox) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Load a bundle into the session server (every resource PUT under its id); returns the transaction-response."""
    return fhir_sandbox.load


@pytest.fixture
def example_bundle() -> Callable[[str], dict[str, Any]]:
    """``example_bundle("xrts-04-breast-3p-3v")``: an external example with fresh ids (see ``with_fresh_ids``)."""
    return lambda name: with_fresh_ids(read_fixture(name))


@pytest.fixture
def fresh_ids() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``fresh_ids(bundle)``: a bundle of our own with fresh ids (see ``with_fresh_ids``)."""
    return with_fresh_ids
