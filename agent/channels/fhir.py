"""The FHIR channel: poll finished course summaries, fetch their context, write drafts back as one transaction.

Push notifications arrive through ``rtletter.agent.fhir.subscriptions`` (its receiver hands ``Inbound`` events to
the job store directly), so ``poll()`` here is the polling half and the catch-up search after a missed notification.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rtletter.agent.channels.base import Draft, Inbound, Posted
from rtletter.agent.errors import ChannelRejected
from rtletter.agent.fhir.audit import audit_event
from rtletter.agent.fhir.auth import AuthSettings, build_auth
from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.fhir.context import ContextFetcher
from rtletter.agent.fhir.poller import CoursePoller
from rtletter.agent.fhir.state import StateStore
from rtletter.agent.fhir.writeback import FhirWriteBack
from rtletter.mappers.case import Case, Coding


class FhirChannel:
    name = "fhir"

    def __init__(
        self,
        client: FhirClient,
        state: StateStore,
        *,
        writeback: FhirWriteBack,
        poller: CoursePoller | None = None,
        fetcher: ContextFetcher | None = None,
        audit_events: bool = False,
    ) -> None:
        self.client = client
        self.poller = poller or CoursePoller(client, state)
        self.fetcher = fetcher or ContextFetcher(client)
        self.writeback = writeback
        self.audit_events = audit_events  # also record reads and writes as AuditEvents on the server

    def poll(self) -> list[Inbound]:
        """New events; the poller's mark advances at the *next* call, so store these before polling again (or call
        ``rollback()`` when storing failed)."""
        return self.poller.poll()

    def acknowledge(self, inbound: Inbound) -> None:
        """Stored: the poll mark advances once every event of the last poll is (``CoursePoller.acknowledge``)."""
        if inbound.meta.get("source") == "poll":
            self.poller.acknowledge(inbound.key)

    def rollback(self) -> None:
        self.poller.rollback()

    def fetch_context(self, inbound: Inbound) -> list[Case]:
        """The course summary comes from the payload when it is one (poll, rest-hook with payload, full-resource
        Backport notification), else from its reference (``meta["resource"]``, id-only notifications)."""
        cases = self.fetcher.fetch_cases(course_of(inbound))
        if self.audit_events:
            for case in cases:
                self.client.create(audit_event("R", "search-type", case.patient.source, case.inputs))
        return cases

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        posted = self.writeback.post(case, draft)
        if self.audit_events:  # a failure here fails the step: the retry converges on the same draft, audited
            written = [posted.document, *([posted.task] if posted.task else [])]
            self.client.create(audit_event("C", "create", case.patient.source, written))
        return posted

    def ready(self) -> None:
        """Readiness: the server answers its capability statement (ChannelError otherwise)."""
        self.client.capabilities()

    def close(self) -> None:
        self.client.close()

    @classmethod
    def from_settings(cls, settings: Any, state: StateStore, *, adapter_version: str) -> FhirChannel:
        """Build from ``rtletter.agent.config.FhirChannelSettings`` (duck-typed: base_url, auth, timeout_s,
        poll_overlap_s, document_type as ``system|code``)."""
        base_url = str(settings.base_url).rstrip("/")
        client = FhirClient(
            base_url, auth=build_auth(auth_settings(settings.auth), base_url), timeout_s=settings.timeout_s
        )
        system, _, code = str(settings.document_type).rpartition("|")
        writeback = FhirWriteBack(
            client, adapter_version=adapter_version, doc_type=Coding(system=system or None, code=code)
        )
        start = getattr(settings, "poll_start", "first-start")
        since = start if isinstance(start, datetime) else None  # None: the first poll records its own start
        poller = CoursePoller(client, state, overlap_s=settings.poll_overlap_s, since=since)
        audit = bool(getattr(settings, "audit_events", False))
        return cls(client, state, writeback=writeback, poller=poller, audit_events=audit)


def auth_settings(section: Any) -> AuthSettings:
    """The config's auth section (pydantic, secrets as SecretStr) as plain ``AuthSettings``."""

    def secret(name: str) -> str | None:
        value: Any = getattr(section, name, None)
        text: str | None = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        return text

    return AuthSettings(
        kind=section.kind,
        username=getattr(section, "username", None),
        password=secret("password"),
        token=secret("token"),
        client_id=getattr(section, "client_id", None),
        private_key_path=getattr(section, "private_key_file", None),
        key_id=getattr(section, "key_id", None),
        algorithm=getattr(section, "algorithm", "RS384"),
        scope=getattr(section, "scope", None) or AuthSettings.scope,
        token_url=str(section.token_url) if getattr(section, "token_url", None) else None,
    )


def course_of(inbound: Inbound) -> Resource | str:
    """The course summary resource in an inbound payload, or its logical id."""
    try:
        body = json.loads(inbound.payload) if inbound.payload.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "Procedure" and body.get("id"):
        return body
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        for entry in body.get("entry", [])[1:]:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == "Procedure" and resource.get("id"):
                return dict(resource)
    reference = inbound.meta.get("resource", "")
    if reference.startswith("Procedure/"):
        return reference.split("/")[1]
    raise ChannelRejected("inbound event names no course summary", channel="fhir")
