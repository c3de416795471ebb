"""The fhir and hl7v2 packages: every exported name resolves, and importing one module does not load the rest."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["rtletter.mappers.fhir", "rtletter.mappers.hl7v2"])
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_framing_and_header_load_neither_hl7apy_nor_fhir_resources() -> None:
    # the MLLP listener imports these; the full parse (hl7apy) belongs to the worker
    code = (
        "import sys, rtletter.mappers.hl7v2.framing, rtletter.mappers.hl7v2.header, rtletter.mappers.fhir.profiles; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hl7apy', 'fhir')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
