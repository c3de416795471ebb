"""Posted drafts for the review tests, made by the real job store steps and the real channel's post."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rtletter.agent.channels.base import Draft
from rtletter.agent.jobs.job import Job, Status
from rtletter.agent.jobs.store import JobStore
from rtletter.mappers.case import Case

DRAFTED = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DRAFT = "Sehr geehrte Frau Kollegin,\n\nDiagnose: Mammakarzinom links.\n\nTherapie: 40,05 Gy in 15 Fraktionen.\n"
MODEL = "Meta-Llama-3-8B-Instruct+rt-qlora-3"


@dataclass(frozen=True)
class User:
    name: str
    practitioner: str | None = "Practitioner/dr-rev"


def posted_job(store: JobStore, channel: object, case: Case, text: str = DRAFT, model: str = MODEL) -> Job:
    """Intake -> draft -> channel.post_draft -> posted, through the store's own steps."""
    inbound_id, _ = store.store_inbound(
        channel=channel.name, key=f"test:{case.case_id}", payload=b"{}", content_type="x", received_at=DRAFTED
    )
    assert store.claim_inbound("w1") is not None
    [outcome] = store.record_cases(inbound_id, "w1", [case], channel.name)
    job = store.claim_job("w1")
    assert job is not None and job.id == outcome.job_id
    meta = {"model": model, "language": "de", "generated_at": DRAFTED.isoformat()}
    assert store.transition(job.id, "w1", Status.generated, draft_text=text, draft_meta=meta)
    assert store.claim_job("w1") is not None
    draft = Draft(case.case_id, text, "de", model.split("+")[0], 10, 20, DRAFTED)
    posted = channel.post_draft(case, draft)  # type: ignore[attr-defined]
    assert store.transition(job.id, "w1", Status.posted, posted_document=posted.document, posted_task=posted.task)
    return store.get_job(job.id)  # type: ignore[return-value]


def read(channel: Any, reference: str) -> dict:
    rtype, rid = reference.split("/_history/")[0].split("/")
    return channel.client.read(rtype, rid)


def ehr_signs(channel: Any, document_ref: str, task_ref: str, text: str) -> None:
    """What the EHR does when a physician signs there: document final with its text, Task completed."""
    document = read(channel, document_ref)
    raw = text.encode("utf-8")
    document["docStatus"] = "final"
    document["authenticator"] = {"reference": "Practitioner/ehr-doc"}
    document["content"][0]["attachment"].update(data=base64.b64encode(raw).decode(), size=len(raw))
    document["content"][0]["attachment"].pop("hash")
    channel.client.update(document)
    task = read(channel, task_ref)
    task["status"] = "completed"
    channel.client.update(task)
