from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from rtletter.agent.errors import ChannelRejected, ChannelUnavailable
from rtletter.agent.jobs import RetryStrategy

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def test_backoff_grows_exponentially_within_the_cap_and_jitters() -> None:
    strategy = RetryStrategy(max_attempts=20, base_s=1.0, max_s=30.0)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (12, 30.0)]:
        delays = [strategy.delay(attempt, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > 0.8 * ceiling  # the full range is used
        assert len(set(delays)) > 150  # jitter: no two jobs come back together


def test_decide_retries_transient_errors_until_the_limit() -> None:
    strategy = RetryStrategy(max_attempts=3, base_s=1.0, max_s=10.0)
    first = strategy.decide(0, ChannelUnavailable("down", channel="fhir"), NOW, random.Random(1))
    assert first.retry and first.retry_at is not None and NOW <= first.retry_at <= NOW + timedelta(seconds=1)
    assert strategy.decide(1, ChannelUnavailable("down"), NOW).retry
    last = strategy.decide(2, ChannelUnavailable("down"), NOW)
    assert not last.retry and last.retry_at is None and last.reason == "gave up after 3 attempts"


def test_decide_dead_letters_permanent_errors_at_once() -> None:
    decision = RetryStrategy(max_attempts=10).decide(0, ChannelRejected("412", channel="fhir", status=412), NOW)
    assert not decision.retry and decision.reason == "permanent error"
    assert RetryStrategy().decide(0, KeyError("x"), NOW).retry  # unknown errors are assumed transient
