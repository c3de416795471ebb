"""With ``channels.fhir.audit_events`` the agent records its context read and its draft write as AuditEvents on the
sandbox server: patient and resources by reference, no names or text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fhir.resources.R4B.auditevent import AuditEvent

from rtletter.agent.config import load_settings
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.jobs.job import Status
from rtletter.agent.service import build_worker

pytestmark = pytest.mark.integration
# The courses are loaded before the agent starts; a site's agent takes only later changes (poll_start).
LOADED_FROM = "2000-01-01T00:00:00Z"


def test_reads_and_writes_become_audit_events_on_the_server(
    fhir_sandbox_factory, example_bundle, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox_factory()
    bundle = example_bundle("xrts-04-breast-3p-3v")
    sandbox.load(bundle)
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'agent.db'}"},
                "channels": {"fhir": {"base_url": sandbox.base_url, "audit_events": True, "poll_start": LOADED_FROM}},
                "model": {"backend": "template"},
            }
        )
    )
    worker = build_worker(load_settings(config))
    assert worker.poll_channels() == 1
    assert worker.drain().posted == 1
    (job,) = worker.store.list_jobs()
    assert job.status == Status.posted
    with FhirClient(sandbox.base_url) as client:
        events = [e["resource"] for e in client.search("AuditEvent", {"_count": "50"}).get("entry", [])]
    assert sorted(e["action"] for e in events) == ["C", "R"]
    for event in events:
        AuditEvent.model_validate(event)
        refs = [entity["what"]["reference"] for entity in event["entity"]]
        assert refs[0].startswith(f"Patient/{patient['id']}")
        assert event["agent"][0]["requestor"] is True
    read = next(e for e in events if e["action"] == "R")
    assert any(ref.startswith("Procedure/") for ref in (x["what"]["reference"] for x in read["entity"]))
    written = next(e for e in events if e["action"] == "C")
    assert job.posted_document in [x["what"]["reference"] for x in written["entity"]]
    text = json.dumps(events)
    for name in patient.get("name", []):
        assert name.get("family", "") not in text or not name.get("family")
    worker.channels["fhir"].close()  # type: ignore[attr-defined]
    worker.store.dispose()
