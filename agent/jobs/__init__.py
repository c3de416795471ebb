"""Durable jobs: one row per course letter, claimed and advanced step by step (see ``worker``)."""

from __future__ import annotations

from rtletter.agent.jobs.job import Flag, Job, Status, StoredInbound
from rtletter.agent.jobs.retry import RetryDecision, RetryStrategy
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import DrainResult, Worker

__all__ = [
    "DrainResult",
    "Flag",
    "Job",
    "JobStore",
    "RetryDecision",
    "RetryStrategy",
    "Status",
    "StoredInbound",
    "Worker",
]
