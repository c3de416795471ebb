"""The sizing table in docs/scaling.md is bench/sizing.py's output, and the script's parameter counts match the
published model sizes (so the arithmetic behind the table is checked, not only copied)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.deploy.deploy_helpers import DOCS, ROOT

SCRIPT = ROOT / "bench" / "sizing.py"


@pytest.fixture(scope="module")
def sizing():
    spec = importlib.util.spec_from_file_location("rtletter_bench_sizing", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_docs_hold_the_scripts_table(sizing) -> None:
    assert sizing.block() in (DOCS / "scaling.md").read_text(encoding="utf-8"), (
        "docs/scaling.md: paste the output of `python bench/sizing.py` between the sizing markers"
    )
    assert sizing.main(["--check"]) == 0


def test_parameter_counts_match_the_published_sizes(sizing) -> None:
    by_name = {shape.name: shape for shape in sizing.MODELS}
    assert by_name["Llama-3-8B"].params == 8_030_261_248  # Meta-Llama-3-8B safetensors index: 8.03 B
    assert abs(by_name["Llama-3-70B"].params / 70.55e9 - 1) < 0.001
    # KV cache of Llama-3-8B: 2 x 32 layers x 8 heads x 128 dims x 2 bytes = 128 KiB per token.
    assert sizing.kv_gb(by_name["Llama-3-8B"], 1) * 1e9 == 131072


def test_methods_order_as_expected(sizing) -> None:
    rows = {(row.model, row.method.split(" ")[0]): row.total for row in sizing.rows()}
    for model in ("Llama-3-8B", "Llama-3-70B"):
        assert rows[(model, "QLoRA")] < rows[(model, "LoRA")] < rows[(model, "full")]
