"""``build_backend``: the ``model`` settings passed to ``rtletter.model.load_backend`` as they are."""

from __future__ import annotations

from rtletter.agent.config import ModelSettings
from rtletter.agent.service import build_backend
from rtletter.model import OpenAIBackend, TemplateBackend


def test_the_default_settings_draft_with_the_template_backend() -> None:
    assert isinstance(build_backend(ModelSettings()), TemplateBackend)


def test_openai_settings_reach_the_backend_with_the_key_unwrapped() -> None:
    settings = ModelSettings.model_validate(
        {"backend": "openai", "base_url": "http://vllm:8000", "model_name": "letters", "api_key": "s3cret",
         "concurrency": 4}
    )  # fmt: skip
    backend = build_backend(settings)
    assert isinstance(backend, OpenAIBackend)
    with backend:
        assert backend.url == "http://vllm:8000/v1/chat/completions"
        assert (backend.model_name, backend.concurrency) == ("letters", 4)
        assert backend.client.headers["Authorization"] == "Bearer s3cret"
