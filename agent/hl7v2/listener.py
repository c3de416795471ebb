"""The MLLP listener: asyncio, persistent connections, every message stored before it is acknowledged.

Per connection: read what TCP delivers, cut it into frames (``MllpDecoder``), read each message's MSH
(``read_header``), store the raw bytes, answer. Messages of one connection are answered in order.

Storing is group commit: one writer thread takes every message waiting at that moment, from all connections, and
stores them in one transaction (``JobStore.store_inbound_many``): one fsync for the lot, and only then are their
ACKs written. A commit costs milliseconds on a real disk; per message it would cap the listener at a few hundred
messages per second, shared it does not.

Answers: AA (CA) once stored; AE/AR (CE/CR) with an ERR segment for a message whose header says it cannot be used,
and that message is stored too, as quarantined, so nothing a sender handed over is lost. When the store fails the
answer is AE (CE) with code 207 and nothing is claimed: the sender keeps the message and sends it again.

Hostile or broken senders (``Limits``): at most ``max_connections`` at once (more are closed at once and logged); a
frame once started must end within ``frame_timeout_s``; partial frames of all connections together hold at most
``max_buffered_bytes`` (past it the connections holding the most are closed: their frames were never acknowledged, so
the sender sends them again); a connection that has not completed a single message ``silent_timeout_s`` after it
opened is closed. A connection idle between messages stays open: senders keep persistent connections. Whatever a
frame holds, it is answered and stored (quarantined when it cannot be used); an exception in the code of one
connection is logged as JSON (type only for foreign ones) and costs that connection only.

``MllpListener.start()`` runs the server on its own event loop in a thread (the worker keeps the main thread);
``stop()`` stops accepting, lets every connection finish the message in hand and closes them.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hashlib
import queue
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rtletter.agent.config import (
    MLLP_FRAME_TIMEOUT_S,
    MLLP_MAX_BUFFERED_BYTES,
    MLLP_MAX_CONNECTIONS,
    MLLP_SILENT_TIMEOUT_S,
)
from rtletter.agent.hl7v2 import ack, framing
from rtletter.agent.hl7v2.header import (
    APPLICATION_INTERNAL_ERROR,
    SUPPORTED_TYPES,
    Header,
    HeaderError,
    read_header,
)
from rtletter.agent.jobs.inbound import InboundRecord
from rtletter.agent.jobs.schema import utcnow
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.log import error_fields, get_logger, log_loop_errors
from rtletter.agent.metrics import AgentMetrics

HL7_V2 = "x-application/hl7-v2+er7"
READ_BYTES = 65536
MAX_BATCH = 256  # messages per group commit
STOP_TIMEOUT_S = 10.0
TRIM_AFTER_BYTES = 8 * 1_048_576  # unfinished frames held at once before the heap is trimmed when they are gone

log = get_logger("rtletter.agent.hl7v2.listener")


@dataclass(frozen=True)
class Limits:
    """What one listener gives its connections (see the module docstring)."""

    max_connections: int = MLLP_MAX_CONNECTIONS
    frame_timeout_s: float = MLLP_FRAME_TIMEOUT_S
    max_buffered_bytes: int = MLLP_MAX_BUFFERED_BYTES
    silent_timeout_s: float = MLLP_SILENT_TIMEOUT_S


@dataclass(frozen=True)
class Received:
    """One message as the listener handled it (for tests and the bench): what was answered and the row id."""

    code: str  # AA, AE, AR, CA, CE, CR
    inbound_id: int | None
    reason: str | None  # the quarantine reason (PHI-free), None when accepted


def inbound_key(header: Header | None, message: bytes) -> str:
    """The dedupe key: sender + MSH-10 + content hash. A resent message (same bytes) is one row; two different
    messages that reuse a control id (it happens) stay two rows instead of one being dropped."""
    digest = hashlib.sha256(message).hexdigest()[:32]
    if header is None or not header.control_id:
        return f"sha256:{digest}"
    return f"{header.sending_application}|{header.sending_facility}|{header.control_id}|sha256:{digest}"[:512]


def _meta(header: Header | None, peer: str, size: int) -> dict[str, str]:
    """What is logged and shown about an event: no PHI (MSH routing fields, type, control id, charset)."""
    if header is None:
        return {"peer": peer, "bytes": str(size)}
    return {
        "peer": peer,
        "bytes": str(size),
        "message_type": f"{header.message_type}^{header.trigger_event}".rstrip("^"),
        "control_id": header.control_id,
        "version": header.version,
        "sending_application": header.sending_application,
        "encoding": header.codec,
    }


class _GroupCommit:
    """One writer thread storing whatever is queued, in one transaction per turn, then resolving the waiters."""

    def __init__(self, store: JobStore, actor: str) -> None:
        self.store = store
        self.actor = actor
        self._queue: queue.Queue[tuple[InboundRecord, asyncio.Future[tuple[int, bool]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="mllp-store", daemon=True)
        self._thread.start()
        self.commits = 0

    async def submit(self, record: InboundRecord) -> tuple[int, bool]:
        future: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()
        self._queue.put((record, future))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                results: list[tuple[int, bool]] | BaseException = self.store.store_inbound_many(
                    [record for record, _ in batch], actor=self.actor
                )
                self.commits += 1
            except Exception as exc:  # the store is down: every waiter answers "not stored"
                results = exc
            outcomes = [
                (future, results if isinstance(results, BaseException) else results[index])
                for index, (_, future) in enumerate(batch)
            ]
            batch[0][1].get_loop().call_soon_threadsafe(_resolve, outcomes)  # one wake-up of the loop per commit
            if stop:
                return


def _resolve(outcomes: list[tuple[asyncio.Future[tuple[int, bool]], tuple[int, bool] | BaseException]]) -> None:
    for future, outcome in outcomes:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class _Connection:
    def __init__(self, task: asyncio.Task[None], decoder: framing.MllpDecoder, peer: str) -> None:
        self.task = task
        self.decoder = decoder
        self.peer = peer
        self.busy = False
        self.shed = False  # closed to bring buffered bytes under the budget


class MllpListener:
    """Serve MLLP on ``host:port`` (port 0: any free port, see ``port`` after ``start``), storing into ``store``.

    Args:
        encoding: the character set of messages whose MSH-18 is empty (a Python codec or an MSH-18 value).
        max_message_bytes: larger frames are answered AR and kept only as their head, quarantined.
        ssl_context: a server-side context for TLS (``server_ssl_context``), or None for plain TCP.
        on_stored: called (in the loop thread) after each newly stored accepted message, e.g. to wake the worker.
        limits: connections, deadlines and the buffer budget (``Limits``).
    """

    def __init__(
        self,
        store: JobStore,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        encoding: str = "latin-1",
        max_message_bytes: int = 1_048_576,
        ssl_context: ssl.SSLContext | None = None,
        channel: str = "mllp",
        supported_types: frozenset[str] = SUPPORTED_TYPES,
        metrics: AgentMetrics | None = None,
        on_stored: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        actor: str = "mllp-listener",
        limits: Limits = Limits(),
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.encoding = encoding
        self.max_message_bytes = max_message_bytes
        self.ssl_context = ssl_context
        self.channel = channel
        self.supported_types = supported_types
        self.metrics = metrics
        self.on_stored = on_stored
        self.clock = clock
        self.actor = actor
        self.limits = limits
        self.buffered = 0  # bytes of unfinished frames held, all connections together
        self.refused = 0  # connections closed at once: over max_connections
        self.timed_out = 0  # connections closed by a deadline (frame or silent)
        self.shed = 0  # connections closed for the buffer budget
        self._peak_buffered = 0
        self._connections: set[_Connection] = set()
        self._closing = False
        self._server: asyncio.Server | None = None
        self._commit: _GroupCommit | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Bind and start accepting (in the running loop)."""
        self._loop = asyncio.get_running_loop()
        log_loop_errors(self._loop, log)
        self._commit = _GroupCommit(self.store, self.actor)
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mllp listening", host=self.host, port=self.port, tls=self.ssl_context is not None)

    async def close(self) -> None:
        """Stop accepting; connections finish the message in hand (its ACK is written), then close."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            if not connection.busy:
                connection.task.cancel()
        tasks = [c.task for c in self._connections]
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        if self._server is not None:
            await self._server.wait_closed()
        if self._commit is not None:
            await asyncio.to_thread(self._commit.close)
        log.info("mllp listener stopped", port=self.port)

    def start(self) -> MllpListener:
        """Run in a thread of its own; returns once the port is bound (raises if it cannot be)."""
        self._thread = threading.Thread(target=self._thread_main, name="mllp-listener", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop and wait for the thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            return
        if self._loop is not None and self._stopped is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:  # the loop closed meanwhile: the thread is ending by itself
                pass
            self._thread.join(STOP_TIMEOUT_S * 2)

    @property
    def running(self) -> bool:
        """Accepting connections: started and not stopped (or crashed)."""
        return self._thread is not None and self._thread.is_alive() and not self._closing

    def __enter__(self) -> MllpListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        async def main() -> None:
            self._stopped = asyncio.Event()
            try:
                await self.open()
            except BaseException as exc:
                self._error = exc
                self._started.set()
                return
            self._started.set()
            await self._stopped.wait()
            await self.close()

        asyncio.run(main())

    # --- one connection -----------------------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "unknown"
        if len(self._connections) >= self.limits.max_connections:
            self.refused += 1
            self._count("connection_refused")
            log.warning("mllp connection refused: too many connections", peer=peer, limit=self.limits.max_connections)
            await self._close_writer(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        decoder = framing.MllpDecoder(self.max_message_bytes)
        connection = _Connection(task, decoder, peer)
        self._connections.add(connection)
        try:
            await self._converse(connection, reader, writer)
        except asyncio.CancelledError:
            if connection.shed:
                log.warning("mllp connection closed: buffer budget", peer=peer, budget=self.limits.max_buffered_bytes)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("mllp connection lost", peer=peer, error=type(exc).__name__)
        except Exception as exc:  # a bug of ours costs this connection, never the listener, and never raw stderr
            log.error("mllp connection failed", peer=peer, **error_fields(exc))
        finally:
            self._connections.discard(connection)
            self.buffered -= decoder.pending
            decoder.reset()
            self._after_load()
            if decoder.skipped or decoder.abandoned:
                log.warning(
                    "mllp bytes outside frames", peer=peer, skipped=decoder.skipped, abandoned=decoder.abandoned
                )
            await self._close_writer(writer)

    async def _converse(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read, cut into frames, answer each, until the peer closes or a limit is reached."""
        loop = asyncio.get_running_loop()
        decoder, peer, limits = connection.decoder, connection.peer, self.limits
        opened = loop.time()
        frame_started = opened
        messages = 0
        while not self._closing:
            if decoder.in_frame:
                deadline: float | None = frame_started + limits.frame_timeout_s
            else:
                deadline = opened + limits.silent_timeout_s if messages == 0 else None
            try:
                async with asyncio.timeout_at(deadline):
                    data = await reader.read(READ_BYTES)
            except TimeoutError:
                self.timed_out += 1
                self._count("connection_timeout")
                why = "frame not finished in time" if decoder.in_frame else "no message since connecting"
                log.warning(f"mllp connection closed: {why}", peer=peer, pending=decoder.pending, messages=messages)
                return
            if not data:
                return
            before, was_in_frame = decoder.pending, decoder.in_frame
            frames = decoder.feed(data)
            self.buffered += decoder.pending - before
            if decoder.in_frame and (frames or not was_in_frame):  # a new frame began: its deadline runs from now
                frame_started = loop.time()
            if self.buffered > limits.max_buffered_bytes and self._over_budget(connection):
                log.warning("mllp connection closed: buffer budget", peer=peer, budget=limits.max_buffered_bytes)
                return
            if not frames:
                continue
            messages += len(frames)
            connection.busy = True
            if len(frames) == 1:
                answers = [await self._handle(frames[0], peer)]
            else:  # coalesced frames: store them together, answer in order
                answers = await asyncio.gather(*(self._handle(f, peer) for f in frames))
            for answer in answers:
                if answer is not None:
                    writer.write(framing.frame(answer))
            await writer.drain()
            connection.busy = False

    def _over_budget(self, current: _Connection) -> bool:
        """Close the connections holding the most unfinished bytes until the rest fit the budget; True when
        ``current`` is one of them (its caller closes it). Busy connections (a message being stored) are spared."""
        closing = sum(c.decoder.pending for c in self._connections if c.shed)  # not given back yet
        excess = self.buffered - closing - self.limits.max_buffered_bytes
        holders = [c for c in self._connections if not c.busy and not c.shed and c.decoder.pending]
        for victim in sorted(holders, key=lambda c: c.decoder.pending, reverse=True):
            if excess <= 0:
                return False
            victim.shed = True
            self.shed += 1
            self._count("connection_shed")
            excess -= victim.decoder.pending
            if victim is current:
                return True
            victim.task.cancel()
        return False  # what is left over is held by connections storing a message: it goes with their answer

    def _after_load(self) -> None:
        """Once a burst of unfinished frames is over, hand the freed heap back to the system: glibc keeps freed
        blocks of many connections' buffers (fragmented, in the loop thread's arena) mapped otherwise, and RSS
        would stay at the peak for the life of the process."""
        self._peak_buffered = max(self._peak_buffered, self.buffered)
        if self.buffered == 0 and self._peak_buffered >= TRIM_AFTER_BYTES:
            self._peak_buffered = 0
            trim_heap()

    @staticmethod
    async def _close_writer(writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError):
            pass

    async def _handle(self, frame: framing.Frame, peer: str) -> bytes | None:
        """Store one message and return the answer (None when the sender asked for none)."""
        received = await self.receive(frame, peer)
        return received[1]

    async def receive(self, frame: framing.Frame, peer: str = "local") -> tuple[Received, bytes | None]:
        message = frame.data
        header, error = self._read(frame, peer)
        reason = error.describe() if error is not None else None
        record = InboundRecord(
            channel=self.channel,
            key=inbound_key(header, message),
            payload=message,
            content_type=HL7_V2,
            received_at=self.clock(),
            meta=_meta(header, peer, frame.size),
            quarantine_reason=reason,
        )
        assert self._commit is not None, "open() the listener first"
        try:
            inbound_id, created = await self._commit.submit(record)
        except Exception as exc:
            log.error("mllp message not stored", peer=peer, error=type(exc).__name__)
            self._count("store_failed")
            failure = ack.AckError(APPLICATION_INTERNAL_ERROR, "message not stored; send it again", field=None)
            answer_header = header if error is None else error.header
            return (
                Received(ack.ack_code(answer_header or Header(), ack.ERROR), None, "not stored"),
                self._answer(answer_header, ack.ERROR, failure),
            )
        if error is None:
            assert header is not None
            self._count("stored" if created else "replay")
            if created and self.on_stored is not None:
                self.on_stored()
            outcome, ack_error = ack.ACCEPT, None
        else:
            self._count("quarantined" if created else "replay")
            if created:
                log.warning("mllp message quarantined", peer=peer, inbound_id=inbound_id, reason=reason)
            header = error.header
            outcome, ack_error = (ack.REJECT if error.reject else ack.ERROR), ack.AckError.from_header_error(error)
        answer = self._answer(header, outcome, ack_error) if ack.should_answer(header, outcome) else None
        return Received(ack.ack_code(header, outcome), inbound_id, reason), answer

    def _read(self, frame: framing.Frame, peer: str) -> tuple[Header | None, HeaderError | None]:
        """The message's header (None when none could be read) and why it cannot be accepted (None: it can).
        Whatever the bytes, this returns: the message is then stored, quarantined if need be, and answered."""
        try:
            if frame.oversized:
                header = self._head_of(frame.data)
                return header, HeaderError(
                    f"message of {frame.size} bytes is over this listener's limit of {self.max_message_bytes}; "
                    "only its head was kept",
                    code=APPLICATION_INTERNAL_ERROR,
                    reject=True,
                    header=header,
                )
            return ack.printable(read_header(frame.data, self.encoding, supported_types=self.supported_types)), None
        except HeaderError as exc:
            exc.header = ack.printable(exc.header)
            return (exc.header if exc.header.control_id or exc.header.message_type else None), exc
        except Exception as exc:  # a bug of ours: the message is kept all the same, quarantined, and answered AE
            log.error("mllp header not read", peer=peer, **error_fields(exc))
            return None, HeaderError("the header could not be read", code=APPLICATION_INTERNAL_ERROR)

    @staticmethod
    def _answer(header: Header | None, outcome: str, error: ack.AckError | None) -> bytes:
        try:
            return ack.build_ack(header, outcome, error=error)
        except Exception as exc:  # never leave a frame unanswered: the plain answer of a message without header
            log.error("mllp answer not built", **error_fields(exc))
            return ack.build_ack(None, outcome, error=error)

    def _head_of(self, message: bytes) -> Header | None:
        """The header of an oversized message, from its first segment alone (the rest was not kept)."""
        first = message.replace(b"\n", b"\r").split(b"\r", 1)[0]
        try:
            return ack.printable(read_header(first, self.encoding, supported_types=self.supported_types))
        except HeaderError as exc:
            return ack.printable(exc.header) if exc.header.control_id else None

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.inbound.labels(channel=self.channel, result=result).inc()


def trim_heap() -> None:
    """``malloc_trim(0)`` where the C library has it (glibc): free heap pages go back to the system."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # musl, macOS: nothing to call
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def server_ssl_context(cert_file: str, key_file: str, ca_file: str | None = None) -> ssl.SSLContext:
    """TLS for the listener (TLS 1.2 or newer); with ``ca_file`` clients must show a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if ca_file:
        context.load_verify_locations(ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
