"""The demo pins torch's CPU kernels to AVX2 on x86, so its seeded weights and scores do not depend on the machine."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from rtletter.demo.base_model import BUILD_CARD
from rtletter.demo.kernels import KERNEL_ENV
from tests.conftest import MICRO_CONFIG

X86 = platform.machine().lower() in ("x86_64", "amd64")
PROBE = (
    "from rtletter.demo.kernels import pin_cpu_kernels; pin_cpu_kernels(); import torch; "
    "torch.ones(4) @ torch.ones(4); print(torch.backends.cpu.get_cpu_capability())"
)


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV} | env
    done = subprocess.run([sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not X86, reason="the pin is for x86-64 machines; other architectures keep their kernels")
def test_torch_runs_avx2_kernels_after_the_pin() -> None:
    assert _probe() == "AVX2"


@pytest.mark.skipif(not X86, reason="the pin is for x86-64 machines; other architectures keep their kernels")
def test_a_variable_already_set_wins() -> None:
    assert _probe(ATEN_CPU_CAPABILITY="default") == "DEFAULT"


@pytest.mark.skipif(not X86, reason="the pin is for x86-64 machines; other architectures keep their kernels")
def test_the_base_build_pins_and_its_card_names_the_kernels(tmp_path: Path) -> None:
    """A fresh process, as ``rtletter model build-base`` is: the card records the kernels the base was trained with."""
    code = (
        "from pathlib import Path; from rtletter.demo.base_model import build_base; "
        f"build_base(Path({str(tmp_path / 'base')!r}), Path({str(MICRO_CONFIG)!r}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV}
    subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    card = json.loads((tmp_path / "base" / BUILD_CARD).read_text(encoding="utf-8"))
    assert card["cpu_kernels"] == "AVX2"


def test_the_demo_pins_before_its_first_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from rtletter.demo.run import run_demo

    for name in KERNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    run_demo(tmp_path, stage="mapping", patients=3, console=Console(file=io.StringIO()))
    expected = KERNEL_ENV if X86 else {}
    assert {name: os.environ.get(name) for name in expected} == expected
