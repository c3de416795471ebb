"""OpenAI-compatible HTTP backend: vLLM, llama.cpp server, Ollama, or ``rtletter model serve``.

The adapter is chosen by model name, as vLLM serves LoRA adapters (``--lora-modules letters=/path/adapter``: the
request's ``model`` is ``letters``). Timeouts and connection errors and 5xx/429 answers are retried with exponential
backoff; after the last try a ``BackendError`` (``BackendTimeout`` for time-outs) names the endpoint and the status,
never the prompt.

A batch of conversations is sent as up to ``concurrency`` requests in flight at once: vLLM batches whatever is in
flight (continuous batching), so a backfill of many letters runs several times faster than one request at a time.
``finish_reason: "length"`` (the server stopped at ``max_tokens``) marks the draft truncated. ``sample`` asks for
``n`` sampled drafts in one request (``n``, ``seed``, temperature and top-p, as vLLM takes them) for redrafting.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from rtletter.mappers.prompt import prompt_slot_ids
from rtletter.mappers.slots import unknown_ids
from rtletter.model.backends.base import SAMPLE_TEMPERATURE, SAMPLE_TOP_P, Generation, Message
from rtletter.model.errors import BackendError, BackendTimeout

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRIES = 3
BACKOFF_S = 0.5  # first wait; doubled after each failure
RETRY_STATUS = {429, 500, 502, 503, 504}
DEFAULT_CONCURRENCY = 8  # requests in flight: vLLM's batch for a backfill


class OpenAIBackend:
    """A ``Backend`` that posts each conversation to ``<base_url>/v1/chat/completions``.

    Args:
        base_url: server root (``http://127.0.0.1:8000``) or its ``/v1``.
        model: the served model or adapter name.
        api_key: sent as a bearer token when set.
        timeout_s: per request.
        retries: further tries after the first failure.
        backoff_s: wait before the first retry, doubled after each.
        concurrency: requests in flight at once for a batch of conversations (1: one after the other).
        transport: an ``httpx`` transport (tests inject faults with one).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        *,
        backoff_s: float = BACKOFF_S,
        concurrency: int = DEFAULT_CONCURRENCY,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self.url = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        self.model_name = model
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.concurrency = max(1, concurrency)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport, limits=limits)

    def generate(self, conversations: list[list[Message]], *, max_new_tokens: int = 1024) -> list[Generation]:
        """Draft one answer per conversation, in order, with up to ``concurrency`` requests in flight.

        Raises:
            BackendError: a request failed after its retries (the first failure in input order; the others finish).
        """
        return [drafts[0] for drafts in self._each(conversations, max_new_tokens, {"temperature": 0.0})]

    def sample(
        self, conversations: list[list[Message]], *, n: int, max_new_tokens: int = 1024, seed: int = 0
    ) -> list[list[Generation]]:
        """``n`` sampled drafts per conversation, one request each (``n``, ``seed``, temperature ``SAMPLE_TEMPERATURE``,
        top-p ``SAMPLE_TOP_P``: the local backend's redraft sampling). A server that ignores ``seed`` answers with
        other drafts each time.

        Raises:
            BackendError: a request failed after its retries, or answered with other than ``n`` choices.
        """
        sampling = {"temperature": SAMPLE_TEMPERATURE, "top_p": SAMPLE_TOP_P, "n": n, "seed": seed}
        drafts = self._each(conversations, max_new_tokens, sampling)
        if any(len(d) != n for d in drafts):
            raise BackendError(f"{self.url}: asked for {n} choices, the answer has another number")
        return drafts

    def _each(
        self, conversations: list[list[Message]], max_new_tokens: int, sampling: dict[str, Any]
    ) -> list[list[Generation]]:
        workers = min(self.concurrency, len(conversations))
        if workers <= 1:
            return [self._complete(messages, max_new_tokens, sampling) for messages in conversations]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-backend") as pool:
            futures = [pool.submit(self._complete, messages, max_new_tokens, sampling) for messages in conversations]
            return [future.result() for future in futures]

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _complete(self, messages: list[Message], max_new_tokens: int, sampling: dict[str, Any]) -> list[Generation]:
        """One request: temperature 0 is greedy, as the local backend; ``sampling`` may ask for ``n`` choices."""
        payload = {"model": self.model_name, "messages": list(messages), "max_tokens": max_new_tokens, **sampling}
        started = time.perf_counter()
        body = self._post(payload)
        seconds = time.perf_counter() - started
        try:
            choices = [(c["message"]["content"] or "", c.get("finish_reason")) for c in body["choices"]]
            usage = body.get("usage") or {}
        except (KeyError, TypeError) as exc:
            raise BackendError(f"{self.url}: answer has no choices[].message.content") from exc
        if not choices:
            raise BackendError(f"{self.url}: answer has no choices[].message.content")
        # The server's decoding is not constrained: ids it invented are named here (filling turns them into gaps).
        allowed = prompt_slot_ids(messages)
        return [
            Generation(
                text=text.strip(),
                unknown_slots=() if allowed is None else tuple(unknown_ids(text, allowed)),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)) // len(choices),  # usage is per request
                seconds=seconds,
                model=str(body.get("model") or self.model_name),
                truncated=finish == "length",
            )
            for text, finish in choices
        ]

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        last: str = ""
        timed_out = False
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(self.url, json=payload)
            except httpx.TimeoutException:
                last, timed_out = "timed out", True
                continue
            except httpx.TransportError as exc:
                last, timed_out = f"connection failed ({exc.__class__.__name__})", False
                continue
            if response.status_code in RETRY_STATUS:
                last, timed_out = f"HTTP {response.status_code}", False
                continue
            if response.status_code >= 400:  # the request itself is wrong (unknown model, bad payload): no retry
                raise BackendError(f"{self.url}: HTTP {response.status_code} for model {self.model_name!r}")
            try:
                return response.json()  # type: ignore[no-any-return]
            except ValueError as exc:
                raise BackendError(f"{self.url}: answer is not JSON") from exc
        error = BackendTimeout if timed_out else BackendError
        raise error(f"{self.url}: {last} after {self.retries + 1} tries")
