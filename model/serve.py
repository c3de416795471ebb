"""A small OpenAI-compatible server over the local backend: ``/v1/models`` and ``/v1/chat/completions``.

Adapters are chosen by model name as vLLM's ``--lora-modules`` does: the base answers to its own name, each adapter to
the name it was registered with. One model in memory, the adapters switched per request under a lock (one generation
at a time: enough for a department's letters, and the same API as vLLM for when it is not).

    rtletter model serve --base var/demo/base --adapter letters=var/demo/adapter --port 8000
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from rtletter.model.backends.base import Generation

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None  # 0 or none: greedy (a first draft is reproducible); above 0: sampled (redraft)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=16)
    seed: int | None = None  # sampled drafts: the same seed gives the same drafts
    stop: list[str] | str | None = None  # the template's end-of-turn always stops


class ModelServer:
    """The loaded base with its named adapters; ``complete`` drafts with the one a request names."""

    def __init__(
        self,
        base: Path,
        adapters: dict[str, Path],
        *,
        name: str | None = None,
        quantization: str | None = None,
        device: str | None = None,
        max_tokens: int = 1024,
    ) -> None:
        from rtletter.model.backends.adapters import apply_adapter
        from rtletter.model.backends.local import LocalBackend
        from rtletter.model.components.loading import load_causal_lm, load_tokenizer

        self.base_name = name or Path(base).name
        self.adapter_names = list(adapters)
        self.max_tokens = max_tokens
        tokenizer = load_tokenizer(Path(base))
        model = load_causal_lm(Path(base), quantization=quantization, device=device)
        # The folder's decoding default, as load_local_backend applies it: the server drafts as the local backend does.
        repetition_penalty = float(getattr(model.generation_config, "repetition_penalty", None) or 1.0)
        for index, (adapter_name, folder) in enumerate(adapters.items()):
            if index == 0:
                model = apply_adapter(model, Path(folder), name=adapter_name)
            else:
                model.load_adapter(str(folder), adapter_name=adapter_name, is_trainable=False)
        self.model = model
        self.generator = LocalBackend(
            model, tokenizer, model_name=self.base_name, batch_size=1, repetition_penalty=repetition_penalty
        )
        self.lock = threading.Lock()

    @property
    def model_names(self) -> list[str]:
        return [self.base_name, *self.adapter_names]

    def complete(self, model: str, messages: list[dict[str, str]], max_tokens: int) -> Generation:
        """The greedy draft of the base or the named adapter."""
        return self._with(model, lambda: self.generator.generate([messages], max_new_tokens=max_tokens))[0]

    def sample(self, model: str, messages: list[dict[str, str]], max_tokens: int, *, n: int, seed: int,
               temperature: float, top_p: float) -> list[Generation]:  # fmt: skip
        """``n`` sampled drafts of the base or the named adapter."""
        return self._with(model, lambda: self.generator.sample([messages], n=n, max_new_tokens=max_tokens, seed=seed,
                                                                temperature=temperature, top_p=top_p)[0])  # fmt: skip

    def _with(self, model: str, draft: Callable[[], list[Generation]]) -> list[Generation]:
        with self.lock:  # the active adapter is model state: one request at a time
            if model == self.base_name:
                if self.adapter_names:
                    with self.model.disable_adapter():
                        return draft()
                return draft()
            self.model.set_adapter(model)
            return draft()


def create_app(server: ModelServer) -> FastAPI:
    """The FastAPI app over a loaded ``ModelServer``."""
    app = FastAPI(title="rtletter model server (OpenAI-compatible)")
    created = int(time.time())

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        """The base and every adapter, by the names requests use."""
        data = [{"id": n, "object": "model", "created": created, "owned_by": "rtletter"} for n in server.model_names]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest) -> dict[str, Any]:
        """Chat completion with the base or the adapter named by ``model``: greedy (``n`` copies of the one draft) at
        temperature 0 or none, ``n`` sampled drafts above it."""
        if request.model not in server.model_names:
            raise HTTPException(status_code=404, detail=f"model {request.model!r} not served")
        limit = request.max_completion_tokens or request.max_tokens or server.max_tokens
        messages = [m.model_dump() for m in request.messages]
        if request.temperature:
            generations = server.sample(request.model, messages, limit, n=request.n, seed=request.seed or 0,
                                        temperature=request.temperature,
                                        top_p=request.top_p or 1.0)  # fmt: skip
        else:
            generations = [server.complete(request.model, messages, limit)] * request.n
        choices = [
            {"index": i, "message": {"role": "assistant", "content": g.text},
             "finish_reason": "length" if g.truncated else "stop"}
            for i, g in enumerate(generations)
        ]  # fmt: skip
        prompt_tokens = generations[0].prompt_tokens
        completion_tokens = sum(g.completion_tokens for g in generations)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    return app


def parse_adapters(items: list[str]) -> dict[str, Path]:
    """``name=DIR`` options to a mapping.

    Raises:
        RecipeConfigError: an item lacks ``=`` or repeats a name.
    """
    from rtletter.model.errors import RecipeConfigError

    adapters: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise RecipeConfigError(f"--adapter {item!r} must look like name=DIR")
        if name in adapters:
            raise RecipeConfigError(f"--adapter name {name!r} given twice")
        adapters[name] = Path(folder)
    return adapters


def check_ranks(adapters: dict[str, Path], max_lora_rank: int | None) -> None:
    """Refuse adapters above ``max_lora_rank`` before minutes of loading, as vLLM would.

    Raises:
        RecipeConfigError: an adapter's LoRA rank is higher than ``max_lora_rank``.
        ModelLoadError: an adapter folder has no readable rank.
    """
    from rtletter.model.backends.adapters import adapter_rank
    from rtletter.model.errors import RecipeConfigError

    if max_lora_rank is None:
        return
    for name, folder in adapters.items():
        rank = adapter_rank(folder)
        if rank > max_lora_rank:
            raise RecipeConfigError(
                f"adapter {name} ({folder}) has LoRA rank {rank}, above --max-lora-rank {max_lora_rank}: "
                f"raise RTLETTER_MAX_LORA_RANK to at least {rank}"
            )


def serve(
    base: Path,
    adapters: dict[str, Path],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    name: str | None = None,
    quantization: str | None = None,
    device: str | None = None,
) -> None:
    """Load the model and serve it with uvicorn until interrupted."""
    import uvicorn

    from rtletter.model.components.loading import set_offline

    set_offline()
    app = create_app(ModelServer(base, adapters, name=name, quantization=quantization, device=device))
    uvicorn.run(app, host=host, port=port, log_level="info")
