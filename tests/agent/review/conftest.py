"""Review fixtures: the sandbox FHIR server (sekmet-fhir); the job store is tests/agent/conftest.py's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rtletter.demo.sandbox import DEFAULT_SEKMET, FhirSandbox


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not DEFAULT_SEKMET.exists():
        pytest.fail(f"{DEFAULT_SEKMET} missing: run `make sandbox`")
    with FhirSandbox(tmp_path_factory.mktemp("sekmet-review")) as sandbox:
        yield sandbox.base_url
