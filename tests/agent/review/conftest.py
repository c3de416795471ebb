"""Review fixtures: a job store on a real SQLite file, the sandbox FHIR server (sekmet-fhir), posted drafts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rtletter.agent.jobs.store import JobStore
from rtletter.demo.sandbox import DEFAULT_SEKMET, FhirSandbox


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", lease_s=30)
    job_store.create_tables()
    yield job_store
    job_store.dispose()


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not DEFAULT_SEKMET.exists():
        pytest.fail(f"{DEFAULT_SEKMET} missing: run `make sandbox`")
    with FhirSandbox(tmp_path_factory.mktemp("sekmet-review")) as sandbox:
        yield sandbox.base_url
