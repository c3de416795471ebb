"""A small blocking MLLP client: send one message, wait for its acknowledgement (the write-back of drafts).

Blocking on purpose: the worker runs one step at a time in its own thread. A connection is opened per message and
closed after the ACK; drafts are few, and a fresh connection never carries a half-read answer from a timed-out try.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from rtletter.agent.errors import AgentError
from rtletter.agent.hl7v2 import framing

READ_BYTES = 65536
MAX_ACK_BYTES = 1_048_576


class MllpClientError(AgentError):
    """No acknowledgement came back (connection refused or lost, timeout, no frame). Message free of PHI. The
    MLLP channel and the v2 sign-off turn it into ``ChannelUnavailable`` (retry with backoff)."""


@dataclass(frozen=True)
class Acknowledgement:
    """MSA-1, MSA-2 and the ERR/MSA-3 text of an ACK."""

    code: str  # AA AE AR CA CE CR
    control_id: str  # MSA-2: the control id of the message it answers
    text: str = ""
    raw: bytes = b""

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def parse_ack(message: bytes) -> Acknowledgement:
    """Read MSA (and the ERR text) from an ACK without a full parse."""
    text = message.decode("latin-1")
    lines = [line for line in text.replace("\n", "\r").split("\r") if line]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 4:
        raise MllpClientError("the answer is not an HL7 v2 message")
    separator = lines[0][3]
    msa = next((line.split(separator) for line in lines if line.startswith("MSA" + separator)), None)
    if msa is None or len(msa) < 2:
        raise MllpClientError("the answer has no MSA segment")
    err = next((line.split(separator) for line in lines if line.startswith("ERR" + separator)), None)
    detail = msa[3] if len(msa) > 3 else ""
    if err is not None and len(err) > 8 and err[8]:
        detail = err[8]
    control_id = msa[2].strip() if len(msa) > 2 else ""
    return Acknowledgement(code=msa[1].strip(), control_id=control_id, text=detail, raw=message)


def send_message(
    host: str,
    port: int,
    message: bytes,
    *,
    timeout_s: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Acknowledgement:
    """Send ``message`` (unframed) and return the first frame that comes back, parsed.

    Raises:
        MllpClientError: no answer within ``timeout_s`` (connect, send and wait together), or the peer closed.
    """
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise MllpClientError(f"cannot connect to {host}:{port} ({type(exc).__name__})") from exc
    sock: socket.socket = raw
    try:
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(raw, server_hostname=server_hostname or host)
        sock.sendall(framing.frame(message))
        decoder = framing.MllpDecoder(MAX_ACK_BYTES)
        while True:
            data = sock.recv(READ_BYTES)
            if not data:
                raise MllpClientError(f"{host}:{port} closed the connection without an acknowledgement")
            frames = decoder.feed(data)
            if frames:
                return parse_ack(frames[0].data)
    except TimeoutError as exc:
        raise MllpClientError(f"no acknowledgement from {host}:{port} within {timeout_s:g} s") from exc
    except (OSError, ssl.SSLError) as exc:
        raise MllpClientError(f"connection to {host}:{port} failed ({type(exc).__name__})") from exc
    finally:
        sock.close()


def client_ssl_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """TLS for the client: verify the server against ``ca_file`` (else the system store); optional client cert."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context
