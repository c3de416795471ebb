"""Errors raised by the demo.

Hierarchy::

    DemoError                       anything the demo itself reports (product errors keep their own roots)
    └── SandboxError                the sandbox FHIR server (sekmet-fhir) could not be started

The demo also lets the product's ``AgentError`` and ``ModelError`` through; ``rtletter demo`` turns all three into
one line and an exit code.
"""

from __future__ import annotations


class DemoError(Exception):
    """Root of the demo's errors."""


class SandboxError(DemoError):
    """The sandbox server could not be started."""


__all__ = ["DemoError", "SandboxError"]
