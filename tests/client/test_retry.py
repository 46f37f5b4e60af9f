"""runtype_provider.client.retry.

RetryPolicy: backoff bounds and jitter, and the server's hint preferred (what is retried: test_transport.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import runtype_provider.client.retry as retry_module
from runtype_provider.client.retry import RetryPolicy
from runtype_provider.exceptions import RuntypeRateLimitError


def backoff_bounds(attempt: int, delay: float = 0.01, cap: float = 60.0) -> tuple[float, float]:
    """Where retry number ``attempt``'s backoff must fall: half the doubling ceiling up to the ceiling."""
    ceiling = min(cap, delay * 2 ** (attempt - 1))
    return ceiling / 2, ceiling


# ---- backoff policy ------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 9))
def test_backoff_upper_bound_is_the_doubling_ceiling(monkeypatch, attempt):
    monkeypatch.setattr(retry_module, "random", SimpleNamespace(uniform=lambda low, high: high))
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    assert policy.wait_seconds(attempt, None) == min(60.0, 2.0 ** (attempt - 1))


@pytest.mark.parametrize("attempt", range(1, 9))
def test_backoff_lower_bound_is_half_the_ceiling(monkeypatch, attempt):
    monkeypatch.setattr(retry_module, "random", SimpleNamespace(uniform=lambda low, high: low))
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    assert policy.wait_seconds(attempt, None) == min(60.0, 2.0 ** (attempt - 1)) / 2


@pytest.mark.parametrize("attempt", [1, 3, 7])
def test_backoff_is_jittered_within_bounds(attempt):
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=60.0)
    low, high = backoff_bounds(attempt, delay=1.0)
    waits = [policy.wait_seconds(attempt, None) for _ in range(200)]
    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 1


def test_backoff_prefers_the_server_hint():
    hinted = RuntypeRateLimitError(method="GET", path="/v1/x", status_code=429, retry_after=9.5)
    assert RetryPolicy().wait_seconds(1, hinted) == 9.5


def test_a_daily_limit_is_not_retried_but_a_burst_429_is() -> None:
    from runtype_provider.exceptions import RuntypeDailyLimitError

    daily = RuntypeDailyLimitError(method="POST", path="/v1/batch/flow", status_code=429, error="DAILY_LIMIT_EXCEEDED")
    burst = RuntypeRateLimitError(method="POST", path="/v1/batch/flow", status_code=429, error="slow down")

    assert RetryPolicy().should_retry(daily, idempotent=True) is False
    assert RetryPolicy().should_retry(burst, idempotent=False) is True
