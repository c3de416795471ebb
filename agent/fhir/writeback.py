"""Post a draft's write-back transaction and report where it landed.

The transaction (``rtletter.mappers.fhir.writeback.draft_transaction``) creates each resource conditionally: a
first post answers ``201 Created`` per entry, a retry of the same draft ``200 OK`` with the existing resources, so
both give the same ``Posted``. ``412 Precondition Failed`` means an identifier matched more than one resource: the
server holds duplicates that someone must clean up, which no retry fixes (``ChannelRejected``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rtletter.agent.channels.base import Draft, Posted
from rtletter.agent.errors import ChannelRejected
from rtletter.agent.fhir.client import FhirClient
from rtletter.mappers.case import Case, Coding
from rtletter.mappers.fhir import draft_transaction


def _now() -> datetime:
    return datetime.now(UTC)


def post_transaction(client: FhirClient, bundle: dict[str, Any]) -> Posted:
    """POST the transaction; map the response entries (same order as the request) to ``Type/id`` references."""
    try:
        response = client.transaction(bundle)
    except ChannelRejected as exc:
        if exc.status == 412:
            raise ChannelRejected(
                "write-back: a draft identifier matches several resources on the server (412)",
                channel="fhir",
                status=412,
            ) from exc
        raise
    requested = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    answered = response.get("entry", [])
    if response.get("type") != "transaction-response" or len(answered) != len(requested):
        raise ChannelRejected(
            "write-back: the server's transaction-response does not match the request", channel="fhir"
        )
    found: dict[str, str] = {}
    created: list[str] = []
    for rtype, entry in zip(requested, answered, strict=True):
        reference = transaction_reference(rtype, entry)
        found[rtype] = reference
        if str(entry.get("response", {}).get("status", "")).startswith("201"):
            created.append(rtype)
    return Posted(
        document=found["DocumentReference"],
        task=found.get("Task"),
        extra={
            "provenance": found.get("Provenance", ""),
            "device": found.get("Device", ""),
            "created": ",".join(created),  # empty on a retry that converged on existing resources
        },
    )


def transaction_reference(rtype: str, entry: dict[str, Any]) -> str:
    """``Type/id`` from ``response.location`` (``[base]/Type/id/_history/1``) or the returned resource."""
    location = str(entry.get("response", {}).get("location") or "")
    if location:
        parts = location.split("/_history/", 1)[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == rtype:
            return f"{rtype}/{parts[-1]}"
    resource = entry.get("resource") or {}
    if resource.get("resourceType") == rtype and resource.get("id"):
        return f"{rtype}/{resource['id']}"
    raise ChannelRejected(f"write-back: no location for the {rtype} in the transaction-response", channel="fhir")


class FhirWriteBack:
    """Builds and posts the write-back transaction for one draft."""

    def __init__(
        self,
        client: FhirClient,
        *,
        adapter_version: str,
        doc_type: Coding | None = None,
        responsible: Callable[[Case], str | None] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.adapter_version = adapter_version
        self.doc_type = doc_type
        self.responsible = responsible or (lambda case: None)
        self.clock = clock

    def build(self, case: Case, draft: Draft, *, draft_version: int = 1) -> dict[str, Any]:
        return draft_transaction(
            case,
            draft.text,
            model_name=draft.model,
            adapter_version=self.adapter_version,
            language=draft.language,
            responsible=self.responsible(case),
            now=self.clock(),
            doc_type=self.doc_type,
            draft_version=draft_version,
            check=draft.check,
        )

    def post(self, case: Case, draft: Draft, *, draft_version: int = 1) -> Posted:
        return post_transaction(self.client, self.build(case, draft, draft_version=draft_version))
