"""Privacy of a full ``rtletter run --once`` over the synthetic cohort through the FHIR channel (sandbox server)
and the file channel (FHIR bundles and HL7 v2 messages): the logs, the stdout, the stored error texts and the audit
entries hold none of the patients' names, identifiers, birth dates, addresses or note text; and every read and write
of patient data is in the audit table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtletter.agent.jobs.job import Status
from rtletter.agent.jobs.store import JobStore
from rtletter.demo.synth.generate import SyntheticPatient, generate_cohort

pytestmark = pytest.mark.integration
# The courses are loaded before the agent starts; a site's agent takes only later changes (poll_start).
LOADED_FROM = "2000-01-01T00:00:00Z"


def _identifiers(bundle: dict[str, Any]) -> set[str]:
    found = set()
    for entry in bundle.get("entry", []):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Patient":
            found |= {str(i.get("value")) for i in resource.get("identifier", []) if i.get("value")}
            for telecom in resource.get("telecom", []):
                found.add(str(telecom.get("value")))
    return found


def phi_of(patient: SyntheticPatient) -> set[str]:
    """What must never show: names, ids, birth dates in the formats sources use, address, note text."""
    person = patient.case.patient
    values = {person.id, person.given or "", person.family or "", person.name, person.address or ""}
    if person.birth_date:
        values |= {person.birth_date.isoformat(), person.birth_date.strftime("%d.%m.%Y")}
        values.add(person.birth_date.strftime("%Y%m%d"))  # HL7 v2 PID-7
    values |= _identifiers(patient.bundle)
    for note in patient.case.notes:
        values |= {note.text, note.text[:24]}
    return {v for v in values if len(v) >= 5}


def test_a_full_run_logs_no_patient_data_and_audits_every_access(fhir_sandbox_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort = generate_cohort(8, seed=11, lang="de")
    via_fhir, via_file = cohort[:4], cohort[4:]
    sandbox = fhir_sandbox_factory()
    for patient in via_fhir:
        sandbox.load(patient.bundle)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for number, patient in enumerate(via_file):
        if number % 2:
            (inbox / f"{patient.patient_id}.hl7").write_bytes(patient.v2)
        else:
            (inbox / f"{patient.patient_id}.json").write_text(json.dumps(patient.bundle), encoding="utf-8")
    person = via_file[0].case.patient
    bad_name = f"{person.family}_{person.given}.json"  # a bad file whose name and content carry PHI
    (inbox / bad_name).write_text(json.dumps({"resourceType": "Patient", "name": person.family}), encoding="utf-8")

    database = tmp_path / "agent.db"
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": f"sqlite:///{database}"},
                "channels": {
                    "fhir": {"base_url": sandbox.base_url, "poll_start": LOADED_FROM},
                    "file": {
                        "inbox": str(inbox),
                        "outbox": str(tmp_path / "outbox"),
                        "quarantine": str(tmp_path / "quarantine"),
                        "settle_s": 0,
                    },
                },
                "model": {"backend": "template"},
                "logging": {"level": "DEBUG", "json": True},
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "rtletter.cli", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = Counter(json.loads(line)["event"] for line in result.stderr.splitlines())
    assert events["draft posted"] >= 6 and events["inbound quarantined"] == 1

    store = JobStore(f"sqlite:///{database}")
    jobs = store.list_jobs(limit=1000)
    inbound = store.list_inbound(limit=1000)
    audit = store.audit_rows(limit=10_000)
    store.dispose()
    assert {j.channel for j in jobs if j.status == Status.posted} == {"fhir", "file"}

    # The database holds patient data by design (payloads, cases, drafts; the audit names the course and where the
    # draft went: an outbox file named after the course id); its error texts and audit descriptions must not.
    stored_text = "\n".join(
        [str(j.last_error or "") for j in jobs]
        + [f"{i.last_error or ''} {i.quarantine_reason or ''}" for i in inbound]
        + [f"{a['actor']} {a['what']}" for a in audit if not a["what"].startswith("draft posted as ")]
    )
    phi = set().union(*(phi_of(p) for p in cohort))
    assert len(phi) > 50
    text = result.stderr + result.stdout + stored_text
    leaked = sorted(value for value in phi if value in text)
    where = {v: [line[:400] for line in text.splitlines() if v in line][:1] for v in leaked}
    assert leaked == [], where

    # Every read and write of patient data is audited: per inbound event stored, read for mapping and its context
    # fetched; per job the case stored, read for each step, the draft stored and posted.
    by_entity: dict[tuple[str, str], set[str]] = {}
    for row in audit:
        by_entity.setdefault((row["entity"], row["entity_id"]), set()).add(f"{row['action']}:{row['what']}")
    for event in inbound:
        done = by_entity[("inbound", str(event.id))]
        assert "write:raw " + event.channel + " payload stored" in done
        assert "read:raw payload read for mapping" in done
        if event.status == Status.quarantined:
            assert "write:quarantined" in done
        else:
            assert f"read:context fetched from {event.channel}" in done
    for job in jobs:
        assert job.status == Status.posted
        done = by_entity[("job", job.key)]
        assert {"write:case stored", "read:case read for its next step"} <= done
        drafted = by_entity[("job", str(job.id))] | by_entity.get(("draft", str(job.id)), set())
        assert "write:draft stored" in drafted
        assert any(item.startswith("write:draft posted as ") for item in drafted)
