"""EHR worklist mode: cost of one follower round against the sandbox FHIR server, side by side with the naive way.

    .venv/bin/python bench/review_follow.py            # 200 open drafts
    .venv/bin/python bench/review_follow.py --n 20     # quicker

Posts ``n`` drafts (DocumentReference + Task each), lets the "EHR" sign a tenth of them, then times in one run:
  (a) naive: read every open draft's Task and DocumentReference (2 n GET requests);
  (b) follower: ``EhrFollower.poll`` (searches by ``_id`` in chunks of 40, ``_lastUpdated`` once it has a mark).
Prints HTTP round trips and seconds per round for both and their ratio; the follower's second round (nothing
changed) shows the steady state of a polling agent.
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rtletter.agent.channels.base import Draft
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.agent.jobs import JobStore, Status
from rtletter.agent.review.follow import EhrFollower
from rtletter.demo.sandbox import FhirSandbox
from rtletter.mappers.case import Case, Course, Patient

TEXT = "Sehr geehrte Frau Kollegin,\n\nRadiotherapie abgeschlossen.\n"


def post(store: JobStore, writer: FhirWriteBack, i: int) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    case = Case(
        case_id=f"fhir:bench-{tag}",
        patient=Patient(id=f"B{i}", source=f"Patient/b-{tag}"),
        course=Course(id=f"c-{tag}", source=f"Procedure/c-{tag}/_history/1"),
    )
    now = datetime.now(UTC)
    inbound, _ = store.store_inbound(channel="fhir", key=tag, payload=b"{}", content_type="x", received_at=now)
    store.claim_inbound("bench")
    [outcome] = store.record_cases(inbound, "bench", [case], "fhir")
    store.claim_job("bench")
    store.transition(outcome.job_id, "bench", Status.generated, draft_text=TEXT, draft_meta={"model": "m+a"})
    store.claim_job("bench")
    posted = writer.post(case, Draft(case.case_id, TEXT, "de", "m", 1, 1, now))
    store.transition(outcome.job_id, "bench", Status.posted, posted_document=posted.document, posted_task=posted.task)
    return posted.document, posted.task or ""


def sign_in_ehr(client: FhirClient, document_ref: str, task_ref: str) -> None:
    document = client.read(*document_ref.split("/"))
    document["docStatus"] = "final"
    document["content"][0]["attachment"]["data"] = base64.b64encode(b"signed").decode()
    client.update(document)
    task = client.read(*task_ref.split("/"))
    task["status"] = "completed"
    client.update(task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FhirSandbox(Path(tmp) / "sekmet") as sandbox:
        store = JobStore(f"sqlite:///{Path(tmp) / 'jobs.db'}")
        store.create_tables()
        client = FhirClient(sandbox.base_url)
        writer = FhirWriteBack(client, adapter_version="a")
        refs = [post(store, writer, i) for i in range(args.n)]
        follower = EhrFollower(store, client)
        follower.poll()  # sets the mark, as a running agent has one
        for document_ref, task_ref in refs[::10]:
            sign_in_ehr(client, document_ref, task_ref)

        start, trips = time.perf_counter(), client.round_trips
        for document_ref, task_ref in refs:
            client.read(*document_ref.split("/"))
            client.read(*task_ref.split("/"))
        naive_s, naive_trips = time.perf_counter() - start, client.round_trips - trips

        start, trips = time.perf_counter(), client.round_trips
        result = follower.poll()
        follow_s, follow_trips = time.perf_counter() - start, client.round_trips - trips
        start, trips = time.perf_counter(), client.round_trips
        steady = follower.poll()
        steady_s, steady_trips = time.perf_counter() - start, client.round_trips - trips
        client.close()
        store.dispose()

    print(f"open drafts {args.n}, signed in the EHR {result.signed}")
    print(f"(a) naive reads      : {naive_trips:5d} round trips  {naive_s:7.3f} s")
    print(f"(b) follower round   : {follow_trips:5d} round trips  {follow_s:7.3f} s  (decided {result.signed})")
    print(f"    next round (idle): {steady_trips:5d} round trips  {steady_s:7.3f} s  (open {steady.checked})")
    print(f"ratio (a)/(b): round trips {naive_trips / max(1, follow_trips):.1f}x, time {naive_s / follow_s:.1f}x")


if __name__ == "__main__":
    main()
