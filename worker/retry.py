"""The retry decision, in one place: whether a failed attempt runs again, and when."""

from __future__ import annotations

import random


def retry_delay_s(
    attempt: int, *, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """`min(cap, base·2^(attempt-1))`, jittered down by up to a half so that jobs failing
    together (a provider outage) do not all come back at the same moment."""
    ceiling_s = min(cap_s, base_s * 2 ** (attempt - 1))
    return (rng or random).uniform(ceiling_s / 2, ceiling_s)


def should_retry(*, retryable: bool, attempt: int, max_attempts: int) -> bool:
    """A retryable failure runs again while attempts remain; a permanent one (bad input, a
    deterministic ffmpeg error, a job that ran past its time limit) or the last attempt ends the
    job `failed`, the dead-letter state that `POST /api/jobs/{id}/retry` leaves."""
    return retryable and attempt < max_attempts
