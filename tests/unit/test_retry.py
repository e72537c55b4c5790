"""The retry schedule and decision (worker/retry.py), without a database."""

from __future__ import annotations

import random

import pytest

from worker.retry import retry_delay_s, should_retry


@pytest.mark.parametrize(("attempt", "ceiling_s"), [(1, 10), (2, 20), (3, 40), (7, 600), (20, 600)])
def test_delay_doubles_up_to_the_cap_with_jitter(attempt: int, ceiling_s: float) -> None:
    rng = random.Random(7)
    delays = [retry_delay_s(attempt, base_s=10, cap_s=600, rng=rng) for _ in range(200)]

    assert all(ceiling_s / 2 <= delay <= ceiling_s for delay in delays)
    assert max(delays) - min(delays) > ceiling_s / 4  # really jittered


@pytest.mark.parametrize(
    ("retryable", "attempt", "max_attempts", "expected"),
    [(True, 1, 3, True), (True, 2, 3, True), (True, 3, 3, False), (False, 1, 3, False)],
)
def test_only_retryable_failures_with_attempts_left_run_again(
    retryable: bool, attempt: int, max_attempts: int, expected: bool
) -> None:
    assert should_retry(retryable=retryable, attempt=attempt, max_attempts=max_attempts) is expected
