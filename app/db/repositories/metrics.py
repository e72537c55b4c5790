"""The queue's figures (`app/queue_metrics.py`), read with a handful of aggregate statements over
jobs, events and workers.

A job keeps the timestamps of its latest attempt only. Its pickup latency is `claimed_at -
run_at`, its run time `completed_at - claimed_at`, and both count only while the claim belongs to
the current `run_at` (`claimed_at >= run_at`): a job put back in the queue after its claim (a
scheduled retry, a reaped lease, a requeue) has a new `run_at` and a stale `claimed_at`, which would
read as a negative latency, or as a run time that includes the wait in the queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Float, and_, cast, extract, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.db.dialect import Dialect
from app.db.models import GenerationEvent, GenerationJob, WorkerRecord, utcnow
from app.db.repositories.base import Repository
from app.domain import TERMINAL_STATUSES, EventType, JobStatus
from app.queue_metrics import (
    PICKUP_BUCKETS_S,
    RECENT_WINDOW_S,
    RUN_TIME_BUCKETS_S,
    Histogram,
    QueueDepth,
    QueueMetrics,
    RecentOutcomes,
    WorkerStatus,
)


def seconds_between(
    dialect: Dialect,
    later: InstrumentedAttribute[datetime | None],
    earlier: InstrumentedAttribute[datetime | None],
) -> ColumnElement[float]:
    """`later - earlier` in seconds, computed by the database."""
    if dialect is Dialect.POSTGRES:
        return cast(extract("epoch", later - earlier), Float)
    # SQLite stores these as naive UTC text, which julianday() reads to the millisecond. Rounding
    # to whole milliseconds drops the float error of subtracting two large day numbers, so a
    # duration exactly on a bucket bound lands in that bucket.
    milliseconds = func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000)
    return type_coerce(milliseconds / 1000.0, Float)


class MetricsRepository(Repository):
    """Reads `QueueMetrics`; it only reads."""

    async def collect(self, *, worker_stale_after_s: float) -> QueueMetrics:
        """Every figure at once. A worker counts as live while its heartbeat is younger than
        `worker_stale_after_s`."""
        now = utcnow()
        by_state, ready, scheduled, oldest_ready = await self._depth(now)
        retries, rescued = await self._event_counts()
        oldest_ready_age_s = 0.0 if oldest_ready is None else (now - oldest_ready).total_seconds()
        finished = await self._finished_since(now - timedelta(seconds=RECENT_WINDOW_S))
        return QueueMetrics(
            collected_at=now,
            jobs=by_state,
            queued=QueueDepth(
                ready=ready,
                scheduled=scheduled,
                oldest_ready_age_s=max(oldest_ready_age_s, 0.0),
            ),
            pickup_latency=await self._pickup_latency(),
            run_time=await self._run_time(),
            retries=retries,
            rescued_leases=rescued,
            workers=await self._live_workers(now, stale_after_s=worker_stale_after_s),
            recent=RecentOutcomes(
                window_s=RECENT_WINDOW_S,
                completed=finished[JobStatus.COMPLETED],
                failed=finished[JobStatus.FAILED],
                cancelled=finished[JobStatus.CANCELLED],
            ),
        )

    async def _depth(self, now: datetime) -> tuple[dict[JobStatus, int], int, int, datetime | None]:
        """Jobs by state; the queued ones split into ready and scheduled; the oldest ready."""
        queued = GenerationJob.status == JobStatus.QUEUED.value
        ready = and_(queued, GenerationJob.run_at <= now)
        rows = await self.session.execute(
            select(
                GenerationJob.status,
                func.count(),
                func.count().filter(ready),
                func.min(GenerationJob.run_at).filter(ready),
            ).group_by(GenerationJob.status)
        )
        by_state = dict.fromkeys(JobStatus, 0)
        ready_count, scheduled_count, oldest_ready = 0, 0, None
        for status, count, ready_in_state, oldest in rows:
            by_state[JobStatus(status)] = count
            if status == JobStatus.QUEUED.value:
                ready_count, oldest_ready = ready_in_state, oldest
                scheduled_count = count - ready_in_state
        return by_state, ready_count, scheduled_count, oldest_ready

    async def _finished_since(self, since: datetime) -> dict[JobStatus, int]:
        """How many jobs reached each final state since `since`."""
        rows = await self.session.execute(
            select(GenerationJob.status, func.count())
            .where(
                GenerationJob.status.in_([status.value for status in TERMINAL_STATUSES]),
                GenerationJob.completed_at >= since,
            )
            .group_by(GenerationJob.status)
        )
        finished = dict.fromkeys(TERMINAL_STATUSES, 0)
        for status, count in rows:
            finished[JobStatus(status)] = count
        return finished

    async def _pickup_latency(self) -> Histogram:
        job = GenerationJob
        return await self._histogram(
            seconds_between(self.dialect, job.claimed_at, job.run_at),
            [job.claimed_at.is_not(None), job.claimed_at >= job.run_at],
            PICKUP_BUCKETS_S,
        )

    async def _run_time(self) -> Histogram:
        job = GenerationJob
        return await self._histogram(
            seconds_between(self.dialect, job.completed_at, job.claimed_at),
            [
                job.status.in_([status.value for status in TERMINAL_STATUSES]),
                job.claimed_at.is_not(None),
                job.completed_at.is_not(None),
                job.claimed_at >= job.run_at,
            ],
            RUN_TIME_BUCKETS_S,
        )

    async def _histogram(
        self,
        duration_s: ColumnElement[float],
        where: Sequence[ColumnElement[bool]],
        bounds_s: tuple[float, ...],
    ) -> Histogram:
        """One statement: how many durations, their sum, and how many fall under each bound."""
        values = select(duration_s.label("value_s")).where(*where).subquery()
        value_s = values.c.value_s
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.sum(value_s),
                    *(func.count().filter(value_s <= bound) for bound in bounds_s),
                ).select_from(values)
            )
        ).one()
        count, total_s, *cumulative = row
        return Histogram(
            bounds_s=bounds_s,
            cumulative_counts=tuple(int(n) for n in cumulative),
            count=int(count),
            sum_s=float(total_s or 0.0),
        )

    async def _event_counts(self) -> tuple[int, int]:
        """Retry events, and the events the reaper wrote when it took back an expired lease."""
        event = GenerationEvent
        rescued: ColumnElement[bool]
        if self.dialect is Dialect.POSTGRES:  # JSONB containment; SQLite's JSON functions
            contains = event.payload.op("@>", is_comparison=True)
            rescued = contains(cast(literal('{"rescued": true}'), JSONB))
        else:
            rescued = func.json_type(event.payload, "$.rescued") == "true"
        row = (
            await self.session.execute(
                select(
                    func.count().filter(event.event_type == EventType.RETRY.value),
                    func.count().filter(rescued),
                ).select_from(event)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def _live_workers(
        self, now: datetime, *, stale_after_s: float
    ) -> tuple[WorkerStatus, ...]:
        """The workers whose heartbeat is recent; a worker that died without removing its row
        ages out of the list."""
        workers = await self.session.scalars(
            select(WorkerRecord)
            .where(WorkerRecord.heartbeat_at >= now - timedelta(seconds=stale_after_s))
            .order_by(WorkerRecord.id)
        )
        return tuple(
            WorkerStatus(
                id=worker.id,
                slots=worker.slots,
                busy=worker.busy,
                heartbeat_age_s=max((now - worker.heartbeat_at).total_seconds(), 0.0),
            )
            for worker in workers
        )
