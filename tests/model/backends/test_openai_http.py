"""The OpenAI-compatible HTTP backend against servers that fail on purpose (fault injection): 5xx retried with
backoff, time-outs and refused connections reported after the last try, never with the prompt in the message."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rtletter.model.backends.openai_http import OpenAIBackend
from rtletter.model.errors import BackendError, BackendTimeout

pytestmark = pytest.mark.integration

CONVERSATION = [{"role": "system", "content": "Arztbrief."}, {"role": "user", "content": "Fakten: Ödem Grad 1."}]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- fault injection: servers that fail on purpose ------------------------------------------------------------------


class _FlakyHandler(BaseHTTPRequestHandler):
    """Answers 503 for the first ``failures`` requests, then a valid completion; or sleeps ``delay_s`` first."""

    failures = 0
    delay_s = 0.0
    content = "Sehr geehrte Frau Kollegin,"
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        if self.delay_s:
            time.sleep(self.delay_s)
            return  # the client has given up: nobody reads an answer
        if len(type(self).seen) <= self.failures:
            self.send_response(503)
            self.end_headers()
            return
        answer = {
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.content}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, type[_FlakyHandler]]]:
    handler = type("Handler", (_FlakyHandler,), {"seen": [], "failures": 0, "delay_s": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_5xx_is_retried_with_backoff_until_success(flaky_server: tuple[str, type[_FlakyHandler]]) -> None:
    url, handler = flaky_server
    handler.failures = 2
    with OpenAIBackend(url, "letters", retries=3, backoff_s=0.01) as generator:
        result = generator.generate([CONVERSATION])[0]
    assert result.text == "Sehr geehrte Frau Kollegin,"
    assert (result.prompt_tokens, result.completion_tokens) == (12, 5)
    assert len(handler.seen) == 3
    assert handler.seen[0]["model"] == "letters" and handler.seen[0]["temperature"] == 0.0


def test_5xx_after_the_last_retry_is_a_clear_error(flaky_server: tuple[str, type[_FlakyHandler]]) -> None:
    url, handler = flaky_server
    handler.failures = 10
    with OpenAIBackend(url, "letters", retries=1, backoff_s=0.01) as generator:
        with pytest.raises(BackendError, match=r"HTTP 503 after 2 tries") as info:
            generator.generate([CONVERSATION])
    assert "Ödem" not in str(info.value)  # never the prompt (PHI) in an error
    assert len(handler.seen) == 2


def test_timeouts_are_retried_then_reported(flaky_server: tuple[str, type[_FlakyHandler]]) -> None:
    url, handler = flaky_server
    handler.delay_s = 1.0
    with OpenAIBackend(url, "letters", timeout_s=0.2, retries=1, backoff_s=0.01) as generator:
        with pytest.raises(BackendTimeout, match="timed out after 2 tries"):
            generator.generate([CONVERSATION])


def test_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with OpenAIBackend(url, "letters", retries=2, backoff_s=0.01) as generator:
        with pytest.raises(BackendError, match="connection failed"):
            generator.generate([CONVERSATION])


def test_slot_ids_the_prompt_does_not_list_are_named_in_the_generation(
    flaky_server: tuple[str, type[_FlakyHandler]],
) -> None:
    url, handler = flaky_server
    handler.content = "GD [dose_total.1] in [fx.1] Fraktionen, Boost [dose_total.7], [fx.1:num]."
    slotted = [CONVERSATION[0], {"role": "user", "content": "## Slots\n[dose_total.1] 50,4 Gy\n[fx.1] 28\n"}]
    with OpenAIBackend(url, "letters", retries=0) as backend:
        (generation,) = backend.generate([slotted])
        (plain,) = backend.generate([CONVERSATION])
    assert generation.unknown_slots == ("dose_total.7",)  # a known id with a form ([fx.1:num]) is no unknown
    assert plain.unknown_slots == ()  # a prompt without slots: nothing to check against
