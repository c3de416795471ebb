"""Write-back against the real sandbox FHIR server (sekmet-fhir): one transaction creates the draft, a retry creates
nothing, a server that is down gives a retryable ChannelError and the retry after restart succeeds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rtletter.agent.channels.base import Draft
from rtletter.agent.errors import ChannelError, ChannelUnavailable
from rtletter.agent.fhir.client import FhirClient
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.mappers.case import Case
from rtletter.mappers.fhir.writeback import draft_ids, identifier_query
from tests.factories import fhir_case

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def make_draft(case: Case) -> Draft:
    return Draft(
        case_id=case.case_id,
        text="Sehr geehrter Herr Kollege, ... 60 Gy in 30 Fraktionen.",
        language="de",
        model="Meta-Llama-3-8B-Instruct",
        prompt_tokens=900,
        completion_tokens=400,
        generated_at=NOW,
    )


def count(client: FhirClient, rtype: str, params: dict[str, str]) -> int:
    return int(client.search(rtype, {**params, "_summary": "count"})["total"])


def test_write_back_creates_one_draft_and_a_retry_creates_nothing(fhir_server: str) -> None:
    case = fhir_case()
    with FhirClient(fhir_server) as client:
        writer = FhirWriteBack(client, adapter_version="rt-qlora-test", clock=lambda: NOW)
        first = writer.post(case, make_draft(case))
        again = writer.post(case, make_draft(case))

        assert first.document.startswith("DocumentReference/") and first.task and first.task.startswith("Task/")
        assert set(first.extra["created"].split(",")) >= {"DocumentReference", "Provenance", "Task"}
        assert (again.document, again.task, again.extra["provenance"]) == (
            first.document,
            first.task,
            first.extra["provenance"],
        )
        assert again.extra["created"] == ""

        ids = draft_ids(case.case_id)
        doc_identifier = identifier_query(ids["DocumentReference"])
        assert count(client, "DocumentReference", {"identifier": doc_identifier}) == 1
        assert count(client, "Task", {"identifier": identifier_query(ids["Task"])}) == 1
        assert count(client, "Provenance", {"target": first.document}) == 1
        device_ref = first.extra["device"]
        assert count(client, "Device", {"_id": device_ref.split("/")[1]}) == 1

        doc = client.read(*first.document.split("/"))
        task = client.read(*first.task.split("/"))
        assert doc["subject"] == {"reference": case.patient.source.split("/_history")[0]}  # type: ignore[union-attr]
        assert doc["author"] == [{"reference": device_ref}]
        assert task["focus"] == {"reference": first.document}
        assert (task["status"], task["intent"]) == ("requested", "order")
        # the worklist query of docs/standards.md finds the task with its draft
        worklist = client.search(
            "Task", {"_id": first.task.split("/")[1], "status": "requested", "_include": "Task:focus"}
        )
        assert {e["resource"]["resourceType"] for e in worklist["entry"]} == {"Task", "DocumentReference"}


def test_a_second_adapter_version_gets_its_own_device_and_a_redraft_its_own_document(fhir_server: str) -> None:
    case = fhir_case()
    with FhirClient(fhir_server) as client:
        first = FhirWriteBack(client, adapter_version="rt-qlora-a", clock=lambda: NOW).post(case, make_draft(case))
        redraft = FhirWriteBack(client, adapter_version="rt-qlora-b", clock=lambda: NOW).post(
            case, make_draft(case), draft_version=2
        )
    assert redraft.document != first.document
    assert redraft.extra["device"] != first.extra["device"]


def test_server_down_is_a_retryable_channel_error_and_the_retry_succeeds(fhir_sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox = fhir_sandbox  # the session's server: stopped and restarted on the same port and database
    case = fhir_case()
    with FhirClient(sandbox.base_url, timeout_s=5) as client:
        writer = FhirWriteBack(client, adapter_version="rt-qlora-test", clock=lambda: NOW)
        sandbox.stop()
        with pytest.raises(ChannelUnavailable) as info:
            writer.post(case, make_draft(case))
        assert isinstance(info.value, ChannelError) and info.value.retryable
        assert case.patient.source.split("/")[1] not in str(info.value)  # type: ignore[union-attr]
        sandbox.start()
        posted = writer.post(case, make_draft(case))
        assert "DocumentReference" in posted.extra["created"]
        assert (
            count(
                client,
                "DocumentReference",
                {"identifier": identifier_query(draft_ids(case.case_id)["DocumentReference"])},
            )
            == 1
        )
