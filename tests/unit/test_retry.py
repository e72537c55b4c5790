"""The retry schedule and decision (worker/retry.py), without a database."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@given(
    attempt=st.integers(min_value=1, max_value=60),
    base_s=st.floats(min_value=0.01, max_value=100),
    cap_s=st.floats(min_value=0.01, max_value=10_000),
    seed=st.integers(),
)
def test_every_delay_lies_within_half_the_ceiling_and_the_ceiling(
    attempt: int, base_s: float, cap_s: float, seed: int
) -> None:
    ceiling_s = min(cap_s, base_s * 2 ** (attempt - 1))

    delay_s = retry_delay_s(attempt, base_s=base_s, cap_s=cap_s, rng=random.Random(seed))

    assert ceiling_s / 2 <= delay_s <= ceiling_s <= cap_s


@given(
    attempt=st.integers(min_value=1, max_value=59),
    base_s=st.floats(min_value=0.01, max_value=100),
    cap_s=st.floats(min_value=0.01, max_value=10_000),
)
def test_the_ceiling_never_shrinks_from_one_attempt_to_the_next(
    attempt: int, base_s: float, cap_s: float
) -> None:
    # With the jitter pinned to its top (rng.uniform returns the upper bound), delays are the
    # ceilings themselves.
    top = _TopOfRange()
    assert retry_delay_s(attempt, base_s=base_s, cap_s=cap_s, rng=top) <= retry_delay_s(
        attempt + 1, base_s=base_s, cap_s=cap_s, rng=top
    )


@given(
    retryable=st.booleans(),
    attempt=st.integers(min_value=1, max_value=30),
    max_attempts=st.integers(min_value=1, max_value=30),
)
def test_a_job_runs_at_most_max_attempts_times(
    retryable: bool, attempt: int, max_attempts: int
) -> None:
    again = should_retry(retryable=retryable, attempt=attempt, max_attempts=max_attempts)

    if attempt >= max_attempts or not retryable:
        assert not again  # the dead-letter state, or a permanent error
    else:
        assert again


class _TopOfRange(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b
