"""rtletter.agent: the on-premise service. It receives finished radiotherapy courses (FHIR R4 polling and
subscriptions, HL7 v2 over MLLP, a file drop), keeps one durable job per course letter, drafts the letter with
``rtletter.model``, posts the draft back to the EHR and lets physicians sign it in the worklist.

Public API (import from here; the subpackages are the service's own business)::

    Settings, load_settings              the one settings model (YAML + RTLETTER_* variables)  (config.py)
    open_store, build_channels,          the service, built from settings: job store, channels, worker, and the
    build_worker, run, RunSummary        whole agent until SIGTERM (``run(settings, once=True)``: one round)
    JobStore, Job, Status                the durable job store and its records                 (jobs/)
    ReviewService, build_review_service  sign, reject, edit and regenerate drafts               (review/)
    configure_logging                    JSON logs with PHI redaction                           (log.py)
    AgentError and its tree              (errors.py; the tree is drawn there)

Names are imported on first use, so that ``import rtletter.agent`` (or its errors) stays cheap: the job store's
SQLAlchemy, the web framework and the model's backends load only with what needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rtletter.agent.errors import (
    AgentError,
    ChannelAuthError,
    ChannelError,
    ChannelRejected,
    ChannelUnavailable,
    ConfigError,
    JobStoreError,
    ReviewRefused,
)

if TYPE_CHECKING:
    from rtletter.agent.config import Settings, load_settings
    from rtletter.agent.jobs import Job, JobStore, Status
    from rtletter.agent.log import configure_logging
    from rtletter.agent.review import ReviewService, build_review_service
    from rtletter.agent.service import RunSummary, build_channels, build_worker, open_store, run

# public name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "Settings": "rtletter.agent.config",
    "load_settings": "rtletter.agent.config",
    "open_store": "rtletter.agent.service",
    "build_channels": "rtletter.agent.service",
    "build_worker": "rtletter.agent.service",
    "run": "rtletter.agent.service",
    "RunSummary": "rtletter.agent.service",
    "JobStore": "rtletter.agent.jobs",
    "Job": "rtletter.agent.jobs",
    "Status": "rtletter.agent.jobs",
    "ReviewService": "rtletter.agent.review",
    "build_review_service": "rtletter.agent.review",
    "configure_logging": "rtletter.agent.log",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "AgentError",
    "ChannelAuthError",
    "ChannelError",
    "ChannelRejected",
    "ChannelUnavailable",
    "ConfigError",
    "Job",
    "JobStore",
    "JobStoreError",
    "ReviewRefused",
    "ReviewService",
    "RunSummary",
    "Settings",
    "Status",
    "build_channels",
    "build_review_service",
    "build_worker",
    "configure_logging",
    "load_settings",
    "open_store",
    "run",
]
