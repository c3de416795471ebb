"""Durable jobs: one row per course letter, claimed and advanced step by step (see ``worker``).

Modules, procrastinate-style: ``job`` (the records and their ``Status``), ``schema`` (tables, engine, transactions),
``inbound`` (raw events stored before the ACK), ``claims`` (leases and the worker's transitions), ``store``
(``JobStore``: the three together, reads, operator and sign-off changes), ``retry`` (``RetryStrategy``), ``worker``.
"""

from __future__ import annotations

from rtletter.agent.jobs.claims import LostClaim
from rtletter.agent.jobs.inbound import InboundRecord
from rtletter.agent.jobs.job import Flag, Job, Status, StoredInbound
from rtletter.agent.jobs.retry import RetryDecision, RetryStrategy
from rtletter.agent.jobs.store import JobStore
from rtletter.agent.jobs.worker import DrainResult, Worker

__all__ = [
    "DrainResult",
    "Flag",
    "InboundRecord",
    "Job",
    "JobStore",
    "LostClaim",
    "RetryDecision",
    "RetryStrategy",
    "Status",
    "StoredInbound",
    "Worker",
]
