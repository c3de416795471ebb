"""``load_backend``: the backend a kind names, from plain arguments; a missing argument is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtletter.model import LocalBackend, OpenAIBackend, RecipeConfigError, TemplateBackend, load_backend


def test_template_kind_needs_nothing_and_takes_a_site_folder(tmp_path: Path) -> None:
    backend = load_backend("template", template_dir=tmp_path)
    assert isinstance(backend, TemplateBackend) and backend.template_dir == tmp_path
    assert backend.model_name == "rtletter-template"


def test_openai_kind_posts_to_the_server_with_the_given_name_and_concurrency() -> None:
    backend = load_backend("openai", base_url="http://127.0.0.1:8000/", model_name="letters", concurrency=3)
    assert isinstance(backend, OpenAIBackend)
    with backend:
        assert backend.url == "http://127.0.0.1:8000/v1/chat/completions"
        assert (backend.model_name, backend.concurrency, backend.retries) == ("letters", 3, 3)


def test_local_kind_loads_the_base_with_its_adapter(micro_base: Path, micro_adapter: Path) -> None:
    backend = load_backend("local", base_dir=micro_base, adapter_dir=micro_adapter)
    assert isinstance(backend, LocalBackend) and backend.model_name.startswith("base+letters@")


@pytest.mark.parametrize(
    ("kind", "arguments", "message"),
    [
        ("local", {}, "backend local needs base_dir"),
        ("openai", {"base_url": "http://127.0.0.1:8000"}, "needs base_url and model_name"),
        ("vllm", {}, "unknown backend 'vllm'"),
    ],
)
def test_a_missing_argument_or_unknown_kind_is_a_recipe_config_error(
    kind: str, arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(RecipeConfigError, match=message):
        load_backend(kind, **arguments)  # type: ignore[arg-type]
