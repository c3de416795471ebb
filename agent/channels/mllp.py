"""The HL7 v2 channel: messages in over MLLP, drafts out as MDM^T02 over MLLP.

In: the listener (``rtletter.agent.hl7v2.listener``, started by ``start_listener`` in the long-running service)
stores every message raw in the job store before it answers AA, so ``poll()`` has nothing to return. The worker's
intake step calls ``fetch_context``: split a batch and map each message with hl7apy (``case_from_v2`` with the site
profile; MSH-18 empty -> the listener's configured encoding). Which cases become jobs is decided by the worker with
the rule every channel shares (``mappers.checks.why_not_drafted``: a completed or stopped course); an ADT update or
an order without a finished course is stored as ``ignored`` with its reason.

Out: ``post_draft`` builds one MDM^T02 (``rtletter.mappers.hl7v2.mdm``: TXA-17 IP, the letter in TX OBX), sends it to
``outbound`` and waits for the receiver's ACK: AA/CA -> posted; AE/AR/CE/CR, a timeout or a refused connection ->
``ChannelUnavailable``, and the worker retries with backoff (and dead-letters after the limit). TXA-12 and MSH-10
are derived from the course, so a retried post is the same document to the receiver.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from rtletter.agent.channels.base import Draft, Inbound, Posted
from rtletter.agent.config import MllpChannelSettings
from rtletter.agent.errors import ChannelRejected, ChannelUnavailable, ConfigError
from rtletter.agent.hl7v2.client import MllpClientError, client_ssl_context, send_message
from rtletter.agent.hl7v2.listener import HL7_V2, Limits, MllpListener, server_ssl_context
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import get_logger
from rtletter.agent.metrics import AgentMetrics
from rtletter.mappers.case import Case
from rtletter.mappers.errors import MappingError, UnsupportedInput
from rtletter.mappers.hl7v2 import (
    Profile,
    case_from_v2,
    control_id,
    default_profile,
    document_from_v2,
    document_id,
    load_profile,
    mdm_from_draft,
    split_batch,
)

log = get_logger("rtletter.agent.channels.mllp")


class MllpChannel:
    name = "mllp"

    def __init__(
        self,
        settings: MllpChannelSettings,
        store: JobStore | None = None,
        *,
        profile: Profile | None = None,
        metrics: AgentMetrics | None = None,
        send: Callable[..., Any] = send_message,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.send = send
        if profile is None:
            try:
                profile = load_profile(settings.profile) if settings.profile else default_profile()
            except MappingError as exc:
                raise ConfigError(f"channels.mllp.profile: {exc}") from exc
        self.profile = profile
        self._listener: MllpListener | None = None

    # --- in -----------------------------------------------------------------------------------------------------

    def poll(self) -> list[Inbound]:
        """Nothing: the listener stores messages as they arrive."""
        return []

    def start_listener(self, on_stored: Callable[[], None] | None = None) -> MllpListener:
        """Start accepting MLLP connections (a thread with its own event loop); ``close()`` stops it."""
        if self.store is None:
            raise ConfigError("channels.mllp: the listener needs the job store")
        if self._listener is not None:
            return self._listener
        tls = self.settings.tls
        context = None
        if tls is not None:
            ca_file = str(tls.ca_file) if tls.ca_file else None
            context = server_ssl_context(str(tls.cert_file), str(tls.key_file), ca_file)
        listener = MllpListener(
            self.store,
            host=self.settings.host,
            port=self.settings.port,
            encoding=self.settings.encoding,
            max_message_bytes=self.settings.max_message_bytes,
            limits=Limits(
                max_connections=self.settings.max_connections,
                frame_timeout_s=self.settings.frame_timeout_s,
                max_buffered_bytes=self.settings.max_buffered_bytes,
                silent_timeout_s=self.settings.silent_timeout_s,
            ),
            ssl_context=context,
            channel=self.name,
            metrics=self.metrics,
            on_stored=on_stored,
        )
        try:
            listener.start()
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            why = exc.strerror or type(exc).__name__
            raise ConfigError(f"channels.mllp: cannot listen on {where} ({why})") from exc
        self._listener = listener
        return listener

    def ready(self) -> None:
        """For ``/readyz``: a started listener must still be accepting."""
        if self._listener is not None and not self._listener.running:
            raise ChannelUnavailable("the MLLP listener is not running", channel=self.name)

    def close(self) -> None:
        """Stop the listener: no new connections; open ones finish the message in hand and close."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def fetch_context(self, inbound: Inbound) -> list[Case]:
        """Map the stored message(s), one case per message; the worker decides which are drafted."""
        if inbound.content_type != HL7_V2:
            raise UnsupportedInput("the MLLP channel maps HL7 v2 messages only")
        encoding = inbound.meta.get("encoding") or self.settings.encoding
        profile = self.profile.model_copy(update={"default_encoding": encoding})
        cases: list[Case] = []
        for message in split_batch(inbound.payload):
            case = case_from_v2(message, profile)
            if inbound.meta.get("message_type", "").startswith("MDM"):
                document = document_from_v2(message, profile)
                if document is not None:
                    log.info("mllp document notification", completion_status=document.status or "")
            cases.append(case)
        return cases

    # --- out ----------------------------------------------------------------------------------------------------

    def client_ssl(self) -> ssl.SSLContext | None:
        """The TLS context of the outbound connection (None: plain TCP); the v2 sign-off sends through it too."""
        outbound = self.settings.outbound
        if outbound is None or outbound.tls is None:
            return None
        tls = outbound.tls
        return client_ssl_context(
            str(tls.ca_file) if tls.ca_file else None,
            str(tls.cert_file) if tls.cert_file else None,
            str(tls.key_file) if tls.key_file else None,
        )

    def post_draft(self, case: Case, draft: Draft) -> Posted:
        """Send the draft as MDM^T02 (TXA-17 IP) and wait for the receiver's ACK."""
        outbound = self.settings.outbound
        if outbound is None:
            raise ChannelRejected("no outbound endpoint configured (channels.mllp.outbound)", channel=self.name)
        base_model, _, adapter = draft.model.partition("+")
        try:
            message = mdm_from_draft(
                case,
                draft.text,
                now=draft.generated_at,
                model=base_model,
                adapter_version=adapter or "none",
                language=draft.language,
                encoding=outbound.encoding,
                document_type=outbound.document_type,
                receiving_application=outbound.receiving_application,
                receiving_facility=outbound.receiving_facility,
                profile=self.profile,
                check=draft.check,
            )
        except MappingError as exc:
            raise ChannelRejected(f"MDM^T02 not built: {exc}", channel=self.name) from exc
        expected = control_id(case)
        try:
            answer = self.send(
                outbound.host, outbound.port, message, timeout_s=outbound.timeout_s, ssl_context=self.client_ssl()
            )
        except MllpClientError as exc:
            raise ChannelUnavailable(str(exc), channel=self.name) from exc
        if answer.control_id and answer.control_id != expected:
            raise ChannelUnavailable("the ACK answers another message (MSA-2)", channel=self.name)
        if not answer.accepted:
            # The receiver's ERR text may quote the message: keep only the code.
            raise ChannelUnavailable(f"receiver answered {answer.code or 'no code'} to MDM^T02", channel=self.name)
        return Posted(
            document=f"MDM^T02/{document_id(case)}",
            extra={"control_id": expected, "ack": answer.code, "endpoint": f"{outbound.host}:{outbound.port}"},
        )
