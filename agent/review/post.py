"""Carrying a decision to where the draft lives: the FHIR server, the outbox folder, or an HL7 v2 endpoint.

``poster_for(channel)`` picks the adapter for a job's channel:

- ``FhirSignOff``: reads the draft's DocumentReference and Task (their current versions), posts the transaction
  from ``rtletter.mappers.fhir.signoff`` with ``ifMatch``. A 412 means the EHR changed them meanwhile; if the
  document is already final with exactly our text (our own earlier attempt whose answer was lost) that counts as
  done, else the physician is told to reload (``ReviewRefused``): nothing is overwritten.
- ``FileSignOff``: writes ``<name>.signed.txt`` and the sign transaction ``<name>.signed.bundle.json`` (conditional
  updates on the identifiers, for whoever imports the outbox) and marks the sidecar final / entered-in-error.
- ``MllpSignOff``: HL7 v2 sites, the signed letter as MDM with TXA-17 AU over MLLP (``rtletter.mappers.hl7v2.mdm``).
- any other channel that implements ``SignOffChannel``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rtletter.agent.channels.base import Draft, Posted
from rtletter.agent.channels.file import json_bytes, write_atomic
from rtletter.agent.errors import ChannelRejected, ReviewRefused
from rtletter.agent.fhir.client import FhirClient, Resource
from rtletter.agent.fhir.writeback import FhirWriteBack, transaction_reference
from rtletter.agent.jobs.job import Job
from rtletter.mappers.case import Case
from rtletter.mappers.errors import MappingError
from rtletter.mappers.fhir import (
    attachment_text,
    reject_transaction,
    sign_transaction,
    supersede_transaction,
)


@dataclass(frozen=True)
class SignOff:
    """Who signs what, when."""

    text: str
    user: str  # the account name
    practitioner: str | None  # Practitioner/<id> of the signer, where known
    at: datetime
    edited: bool


@runtime_checkable
class SignOffChannel(Protocol):
    """A channel that carries decisions itself (HL7 v2: MDM^T02, TXA-17 AU on sign, per the site's config).

    ``post_signoff`` returns where the final document is (a reference or message control id)."""

    def post_signoff(self, job: Job, case: Case, signoff: SignOff) -> str: ...

    def post_rejection(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None: ...


class Poster(Protocol):
    def sign(self, job: Job, case: Case, signoff: SignOff) -> str: ...

    def reject(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None: ...

    def supersede(self, job: Job, case: Case, draft: Draft, version: int, at: datetime) -> Posted: ...


def poster_for(channel: Any) -> Poster:
    """The adapter for a job's channel object; ReviewRefused when it cannot carry decisions."""
    if isinstance(channel, SignOffChannel):
        return _ChannelPoster(channel)
    if getattr(channel, "name", None) == "fhir" and hasattr(channel, "client"):
        return FhirSignOff(channel.client, channel.writeback)
    if getattr(channel, "name", None) == "file":
        return FileSignOff(channel)
    if getattr(channel, "name", None) == "mllp":
        return MllpSignOff(channel)
    raise ReviewRefused(f"Drafts of the {getattr(channel, 'name', '?')} channel cannot be signed here.")


class _ChannelPoster:
    def __init__(self, channel: SignOffChannel) -> None:
        self.channel = channel

    def sign(self, job: Job, case: Case, signoff: SignOff) -> str:
        return self.channel.post_signoff(job, case, signoff)

    def reject(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None:
        self.channel.post_rejection(job, case, reason, signoff)

    def supersede(self, job: Job, case: Case, draft: Draft, version: int, at: datetime) -> Posted:
        return self.channel.post_draft(case, draft)  # type: ignore[attr-defined,no-any-return]


# --- FHIR ---------------------------------------------------------------------------------------------------------


def _split(reference: str) -> tuple[str, str]:
    rtype, _, rest = reference.partition("/")
    return rtype, rest.split("/_history/", 1)[0]


class FhirSignOff:
    def __init__(self, client: FhirClient, writeback: FhirWriteBack | None = None) -> None:
        self.client = client
        self.writeback = writeback

    def read(self, reference: str | None) -> Resource | None:
        if not reference:
            return None
        return self.client.read(*_split(reference))

    def document(self, job: Job) -> Resource:
        reference = str(job.posted_document or "")
        found = self.read(reference) if reference.startswith("DocumentReference/") else None
        if found is None:
            raise ReviewRefused("The draft's DocumentReference is unknown; it cannot be decided here.")
        return found

    def _post(self, bundle: Resource, *, done: Any) -> Resource | None:
        """Post; on 412 call ``done()`` (re-reads): True -> our own earlier post landed, None is returned."""
        try:
            return self.client.transaction(bundle)
        except ChannelRejected as exc:
            if exc.status != 412:
                raise
            if done():
                return None
            raise ReviewRefused(
                "The draft was changed in the EHR meanwhile; nothing was overwritten. Reload the page."
            ) from None

    def sign(self, job: Job, case: Case, signoff: SignOff) -> str:
        if not signoff.practitioner:
            raise ReviewRefused("Your account has no Practitioner reference; it cannot sign in the EHR.")
        document = self.document(job)
        task = self.read(job.posted_task)

        def landed() -> bool:
            now = self.read(job.posted_document) or {}
            return now.get("docStatus") == "final" and attachment_text(now) == signoff.text

        if document.get("docStatus") == "final" or document.get("status") != "current":
            if landed():
                return _versioned(self.read(job.posted_document) or {})
            raise ReviewRefused("The draft was signed or withdrawn in the EHR meanwhile. Reload the page.")
        try:
            bundle = sign_transaction(
                document,
                task,
                signed_text=signoff.text,
                physician=signoff.practitioner,
                now=signoff.at,
                edited=signoff.edited,
            )
        except MappingError as exc:
            raise ReviewRefused(f"Cannot sign: {exc}") from None
        response = self._post(bundle, done=landed)
        if response is None:
            return _versioned(self.read(job.posted_document) or {})
        location = str(response.get("entry", [{}])[0].get("response", {}).get("location") or "")
        return _short(location) or _versioned(self.read(job.posted_document) or {})

    def reject(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None:
        practitioner = signoff.practitioner or "Practitioner/unknown"
        document = self.document(job)
        task = self.read(job.posted_task)

        def landed() -> bool:
            return (self.read(job.posted_document) or {}).get("status") == "entered-in-error"

        if document.get("status") == "entered-in-error":
            return
        try:
            bundle = reject_transaction(document, task, reason=reason, physician=practitioner, now=signoff.at)
        except MappingError as exc:
            raise ReviewRefused(f"Cannot reject: {exc}") from None
        self._post(bundle, done=landed)

    def supersede(self, job: Job, case: Case, draft: Draft, version: int, at: datetime) -> Posted:
        if self.writeback is None:
            raise ReviewRefused("This FHIR channel cannot write drafts.")
        document = self.document(job)
        task = self.read(job.posted_task)
        try:
            bundle = supersede_transaction(
                self.writeback.build(case, draft, draft_version=version), document, task, now=at
            )
        except MappingError as exc:
            raise ReviewRefused(f"Cannot replace the draft: {exc}") from None
        response = self._post(bundle, done=lambda: False)
        if response is None:  # unreachable: done() never says landed
            raise ReviewRefused("The new draft could not be posted.")
        found: dict[str, str] = {}
        for entry, answer in zip(bundle["entry"], response.get("entry", []), strict=False):
            rtype = entry["resource"]["resourceType"]
            found.setdefault(rtype, transaction_reference(rtype, answer))  # the new draft's come first
        return Posted(document=found["DocumentReference"], task=found.get("Task"), extra={"version": str(version)})


def _short(location: str) -> str:
    """``http://x/fhir/DocumentReference/1/_history/2`` -> ``DocumentReference/1/_history/2``."""
    parts = location.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        return "/".join(parts[-4:])
    return ""


def _versioned(resource: Resource) -> str:
    version = (resource.get("meta") or {}).get("versionId")
    ref = f"{resource.get('resourceType')}/{resource.get('id')}"
    return f"{ref}/_history/{version}" if version else ref


# --- file ---------------------------------------------------------------------------------------------------------


class FileSignOff:
    """Decisions on outbox drafts: files beside the draft (``<name>.txt``), same atomic writes as the channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def _base(self, job: Job) -> Path:
        path = Path(job.posted_document or "")
        if path.suffix != ".txt":
            raise ReviewRefused("The draft's outbox file is unknown.")
        return path.with_suffix("")

    def _bundle_resources(self, base: Path) -> tuple[Resource | None, Resource | None]:
        path = base.with_name(base.name + ".bundle.json")
        if not path.is_file():
            return None, None
        bundle = json.loads(path.read_text(encoding="utf-8"))
        found = {e["resource"]["resourceType"]: e["resource"] for e in bundle.get("entry", [])}
        return found.get("DocumentReference"), found.get("Task")

    def _sidecar(self, base: Path, **changes: Any) -> None:
        path = base.with_suffix(".json")
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.update(changes)
        write_atomic(path, json_bytes(data))

    def sign(self, job: Job, case: Case, signoff: SignOff) -> str:
        import hashlib

        base = self._base(job)
        document, task = self._bundle_resources(base)
        if document is not None and signoff.practitioner:
            bundle = sign_transaction(
                document,
                task,
                signed_text=signoff.text,
                physician=signoff.practitioner,
                now=signoff.at,
                edited=signoff.edited,
            )
            write_atomic(base.with_name(base.name + ".signed.bundle.json"), json_bytes(bundle))
        signed = base.with_name(base.name + ".signed.txt")
        write_atomic(signed, signoff.text.encode("utf-8"))
        self._sidecar(
            base,
            status="final",
            signed_at=signoff.at.isoformat(),
            signed_by=signoff.user,
            signed_sha256=hashlib.sha256(signoff.text.encode("utf-8")).hexdigest(),
        )
        return str(signed)

    def reject(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None:
        base = self._base(job)
        document, task = self._bundle_resources(base)
        if document is not None:
            bundle = reject_transaction(
                document, task, reason=reason, physician=signoff.practitioner or "Practitioner/unknown", now=signoff.at
            )
            write_atomic(base.with_name(base.name + ".rejected.bundle.json"), json_bytes(bundle))
        self._sidecar(base, status="entered-in-error", rejected_at=signoff.at.isoformat(), rejected_by=signoff.user)

    def supersede(self, job: Job, case: Case, draft: Draft, version: int, at: datetime) -> Posted:
        base = self._base(job)
        # Keep the old version's files under a versioned name; the channel then writes the new draft in place.
        for suffix in (".txt", ".json", ".bundle.json"):
            old = base.with_name(base.name + suffix)
            if old.is_file():
                os.replace(old, base.with_name(f"{base.name}.v{version - 1}{suffix}"))
        posted: Posted = self.channel.post_draft(case, draft)
        self._sidecar(base, draft_version=version, replaces=f"{base.name}.v{version - 1}.txt")
        return posted


# --- HL7 v2 -------------------------------------------------------------------------------------------------------


class MllpSignOff:
    """Signed letters to a v2-only site: MDM (event ``channels.mllp.outbound.signoff_event``) with TXA-17 AU, the
    signer in TXA-22, sent over MLLP and acknowledged like the draft. A rejection sends MDM^T11 (document cancel
    notification, TXA-19 CA) so that the receiver withdraws the draft; HL7 v2 has no "rejected" completion status,
    so the reason stays in the agent."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    def sign(self, job: Job, case: Case, signoff: SignOff) -> str:
        from rtletter.mappers.case import Physician
        from rtletter.mappers.hl7v2.mdm import control_id, document_id, mdm_from_draft

        outbound = getattr(self.channel.settings, "outbound", None)
        if outbound is None:
            raise ReviewRefused("No HL7 v2 endpoint is configured for signed letters (channels.mllp.outbound).")
        version = int(job.draft_meta.get("draft_version", "1"))
        base_model, _, adapter = str(job.draft_meta.get("model", "")).partition("+")
        signer_id = (signoff.practitioner or "").split("/")[-1] or signoff.user
        try:
            message = mdm_from_draft(
                case,
                signoff.text,
                now=signoff.at,
                model=base_model,
                adapter_version=adapter or "none",
                language=job.draft_meta.get("language") or case.language,
                encoding=outbound.encoding,
                document_type=outbound.document_type,
                receiving_application=outbound.receiving_application,
                receiving_facility=outbound.receiving_facility,
                draft_version=version,
                profile=self.channel.profile,
                completion_status="AU",
                authenticator=Physician(id=signer_id),
                event=outbound.signoff_event,
            )
        except MappingError as exc:
            raise ReviewRefused(f"Cannot sign: {exc}") from None
        self._send(outbound, message, control_id(case, version, "AU"))
        return f"MDM^{outbound.signoff_event}/{document_id(case, version)}"

    def reject(self, job: Job, case: Case, reason: str, signoff: SignOff) -> None:
        from rtletter.mappers.hl7v2.mdm import AVAILABILITY_CANCELLED, control_id, mdm_cancel

        outbound = getattr(self.channel.settings, "outbound", None)
        if outbound is None:
            raise ReviewRefused("No HL7 v2 endpoint is configured for rejections (channels.mllp.outbound).")
        version = int(job.draft_meta.get("draft_version", "1"))
        try:
            message = mdm_cancel(
                case,
                now=signoff.at,
                encoding=outbound.encoding,
                document_type=outbound.document_type,
                receiving_application=outbound.receiving_application,
                receiving_facility=outbound.receiving_facility,
                draft_version=version,
                profile=self.channel.profile,
            )
        except MappingError as exc:
            raise ReviewRefused(f"Cannot reject: {exc}") from None
        self._send(outbound, message, control_id(case, version, AVAILABILITY_CANCELLED))

    def _send(self, outbound: Any, message: bytes, expected: str) -> None:
        """Send and wait for the ACK; anything but AA/CA for this message is the channel being unavailable."""
        from rtletter.agent.errors import ChannelUnavailable
        from rtletter.agent.hl7v2.client import MllpClientError

        try:
            answer = self.channel.send(
                outbound.host,
                outbound.port,
                message,
                timeout_s=outbound.timeout_s,
                ssl_context=self.channel.client_ssl(),
            )
        except MllpClientError as exc:
            raise ChannelUnavailable(str(exc), channel="mllp") from exc
        if answer.control_id and answer.control_id != expected:
            raise ChannelUnavailable("the ACK answers another message (MSA-2)", channel="mllp")
        if not answer.accepted:
            raise ChannelUnavailable(f"receiver answered {answer.code or 'no code'}", channel="mllp")

    def supersede(self, job: Job, case: Case, draft: Draft, version: int, at: datetime) -> Posted:
        raise ReviewRefused("Drafts of HL7 v2 sites cannot be regenerated here yet.")
