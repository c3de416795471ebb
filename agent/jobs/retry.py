"""When to try a failed step again: exponential backoff with full jitter, a cap, and a limit on attempts.

``RetryStrategy.decide(attempts_so_far, error)`` returns a ``RetryDecision``: retry at a time, or give up (dead
letter) with the reason. Errors that say they are permanent (``retryable = False``, e.g. a 4xx the server will
repeat) are not retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from rtletter.agent.config import BACKOFF_BASE_S, BACKOFF_MAX_S, MAX_ATTEMPTS


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    retry_at: datetime | None  # None when giving up
    delay_s: float
    reason: str  # why we give up, or "" when retrying


@dataclass(frozen=True)
class RetryStrategy:
    """Exponential backoff: attempt n waits uniform(0, min(max_s, base_s * 2**(n-1))) ("full jitter", AWS
    architecture blog 2015), so that many jobs failing together do not come back together."""

    max_attempts: int = MAX_ATTEMPTS
    base_s: float = BACKOFF_BASE_S
    max_s: float = BACKOFF_MAX_S

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(attempt - 1, 0))
        return (rng or random).uniform(0, ceiling)

    def decide(
        self, attempts: int, error: BaseException, now: datetime, rng: random.Random | None = None
    ) -> RetryDecision:
        """``attempts``: failed attempts before this one. Returns what to do after this failure."""
        attempt = attempts + 1
        if not getattr(error, "retryable", True):
            return RetryDecision(False, None, 0.0, "permanent error")
        if attempt >= self.max_attempts:
            return RetryDecision(False, None, 0.0, f"gave up after {attempt} attempts")
        delay = self.delay(attempt, rng)
        return RetryDecision(True, now + timedelta(seconds=delay), delay, "")
