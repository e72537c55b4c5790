"""The queue's figures as plain values: what `/api/metrics` (JSON) and `/metrics` (Prometheus)
present, read from the database by `app/db/repositories/metrics.py`.

They describe the rows still in the tables. Retention deletes finished jobs (and, with them,
their events) after a while, so the histograms, the outcome counts and the retry and rescue
counts cover the recent past, not all time: they can go down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.domain import JobStatus

PICKUP_BUCKETS_S = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),  # a NOTIFY wake-up, a poll interval
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),  # slow polling; every slot busy
)
# From a no-op job (well under a second) to a long high-quality render (tens of minutes).
RUN_TIME_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# The window of `QueueMetrics.recent`: the status page's recent throughput.
RECENT_WINDOW_S = 3600


@dataclass(frozen=True)
class Bucket:
    le: float
    """The upper bound, seconds."""
    count: int
    """Values at or under the bound (cumulative, as in Prometheus)."""


@dataclass(frozen=True)
class Histogram:
    """Durations in seconds: `cumulative_counts[i]` values are at most `bounds_s[i]`; `count`
    includes those above the last bound."""

    bounds_s: tuple[float, ...]
    cumulative_counts: tuple[int, ...]
    count: int
    sum_s: float

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        return tuple(
            Bucket(le=bound, count=count)
            for bound, count in zip(self.bounds_s, self.cumulative_counts, strict=True)
        )

    @property
    def p50_s(self) -> float | None:
        return self.quantile(0.5)

    @property
    def p95_s(self) -> float | None:
        return self.quantile(0.95)

    def quantile(self, q: float) -> float | None:
        """Estimate a quantile from the buckets as Prometheus' `histogram_quantile` does: linear
        within the bucket the rank falls in; the last bound when it falls above it. None when
        empty."""
        if self.count == 0:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0
        for bound, cumulative in zip(self.bounds_s, self.cumulative_counts, strict=True):
            if cumulative >= rank:
                in_bucket = cumulative - lower_count
                fraction = (rank - lower_count) / in_bucket if in_bucket else 1.0
                return lower_bound + (bound - lower_bound) * fraction
            lower_bound, lower_count = bound, cumulative
        return self.bounds_s[-1]


@dataclass(frozen=True)
class QueueDepth:
    ready: int
    """Queued jobs whose run_at has come."""
    scheduled: int
    """Queued jobs waiting out a retry backoff (run_at ahead)."""
    oldest_ready_age_s: float
    """Since the oldest ready job became ready; 0 when none is."""


@dataclass(frozen=True)
class WorkerStatus:
    id: str
    slots: int
    busy: int
    heartbeat_age_s: float


@dataclass(frozen=True)
class RecentOutcomes:
    """Jobs that reached each final state in the last `window_s`: recent throughput."""

    window_s: int
    completed: int
    failed: int
    cancelled: int

    @property
    def by_state(self) -> dict[JobStatus, int]:
        """In JobStatus order, so the Prometheus text is the same from one scrape to the next."""
        return {
            JobStatus.COMPLETED: self.completed,
            JobStatus.FAILED: self.failed,
            JobStatus.CANCELLED: self.cancelled,
        }


@dataclass(frozen=True)
class QueueMetrics:
    collected_at: datetime
    jobs: Mapping[JobStatus, int]
    """Every state, 0 when no job has it; the final states are the outcomes."""
    queued: QueueDepth
    pickup_latency: Histogram
    """From a job's run_at to the claim of its latest attempt."""
    run_time: Histogram
    """From the claim of a finished job's latest attempt to its end."""
    retries: int
    rescued_leases: int
    workers: tuple[WorkerStatus, ...]
    recent: RecentOutcomes

    @property
    def busy_slots(self) -> int:
        return sum(worker.busy for worker in self.workers)

    @property
    def total_slots(self) -> int:
        return sum(worker.slots for worker in self.workers)
