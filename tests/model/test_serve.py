"""``rtletter model serve`` on loopback, through the OpenAI-compatible HTTP backend: models listed, the adapter chosen
by name and drafting as the local backend does, an unknown model refused at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rtletter.model import BackendError, OpenAIBackend, load_local_backend

pytestmark = pytest.mark.integration

CONVERSATION = [{"role": "system", "content": "Arztbrief."}, {"role": "user", "content": "Fakten: Ödem Grad 1."}]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(micro_base: Path, micro_adapter: Path) -> Iterator[str]:
    import uvicorn

    from rtletter.model.serve import ModelServer, create_app

    app = create_app(ModelServer(micro_base, {"letters": micro_adapter}, name="rtletter-base"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("model server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_models_lists_base_and_adapters(server_url: str) -> None:
    body = httpx.get(f"{server_url}/v1/models").json()
    assert [m["id"] for m in body["data"]] == ["rtletter-base", "letters"]


def test_adapter_is_chosen_by_model_name(server_url: str, micro_base: Path, micro_adapter: Path) -> None:
    with (
        OpenAIBackend(server_url, "letters") as adapter,
        OpenAIBackend(server_url + "/v1", "rtletter-base") as base,
    ):
        remote_adapter = adapter.generate([CONVERSATION], max_new_tokens=10)[0]
        remote_base = base.generate([CONVERSATION], max_new_tokens=10)[0]
    local_adapter = load_local_backend(micro_base, micro_adapter).generate([CONVERSATION], max_new_tokens=10)[0]
    local_base = load_local_backend(micro_base).generate([CONVERSATION], max_new_tokens=10)[0]
    assert remote_adapter.text == local_adapter.text
    assert remote_base.text == local_base.text
    assert remote_adapter.model == "letters"
    assert (remote_adapter.prompt_tokens, remote_adapter.completion_tokens) == (
        local_adapter.prompt_tokens,
        local_adapter.completion_tokens,
    )


def test_sampled_drafts_over_http_are_the_local_ones(server_url: str, micro_base: Path, micro_adapter: Path) -> None:
    """Redrafting on a server: ``n`` choices in one request, seeded, as the local backend samples them."""
    from rtletter.model.backends.base import Samples

    with OpenAIBackend(server_url, "letters") as remote:
        assert isinstance(remote, Samples)
        (drafts,) = remote.sample([CONVERSATION], n=3, max_new_tokens=10, seed=7)
        (again,) = remote.sample([CONVERSATION], n=3, max_new_tokens=10, seed=7)
        greedy = remote.generate([CONVERSATION], max_new_tokens=10)[0]
    local = load_local_backend(micro_base, micro_adapter, batch_size=1)
    (local_drafts,) = local.sample([CONVERSATION], n=3, max_new_tokens=10, seed=7)
    assert [d.text for d in drafts] == [d.text for d in again]
    assert len({d.text for d in drafts}) > 1 and all(d.model == "letters" for d in drafts)
    assert greedy.text == local.generate([CONVERSATION], max_new_tokens=10)[0].text
    assert [d.text for d in drafts] == [d.text for d in local_drafts]  # the server's batch of one, as the local one


def test_unknown_model_fails_at_once(server_url: str) -> None:
    started = time.monotonic()
    with OpenAIBackend(server_url, "nope", retries=3, backoff_s=5.0) as generator:
        with pytest.raises(BackendError, match="HTTP 404"):
            generator.generate([CONVERSATION], max_new_tokens=4)
    assert time.monotonic() - started < 4.0  # a 4xx is not retried
