"""The cap on queued jobs, checked by every enqueue: a count of the queue read at most once per
COUNT_TTL_S per process, plus the jobs this process queued since."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import JobRepository
from app.errors import QueueFull

# Counting the queue costs a scan of its index (milliseconds at tens of thousands of jobs), too
# much for every POST /api/generate at a thousand a second; once a second is nothing.
COUNT_TTL_S = 1.0
RETRY_AFTER_S = 30


class QueueCap:
    """Refuses new work while `limit` jobs are queued (0: no cap).

    The figure is approximate by design: another API process's jobs show at the next count, and
    requests checked at the same moment may all pass, so the queue can exceed the cap by the
    requests in flight (with several API processes, up to a second of each one's enqueues)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.limit = limit
        self._clock = clock
        self._counted = 0
        self._added = 0
        self._expires_at = float("-inf")
        self._lock = asyncio.Lock()

    async def check(self, jobs: int = 1) -> None:
        """Raise QueueFull (429, Retry-After) when `jobs` more would take the queue past `limit`
        (one job: when it holds `limit` or more)."""
        if self.limit <= 0:
            return
        if self._clock() >= self._expires_at:
            await self._recount()
        if self._counted + self._added + jobs > self.limit:
            raise QueueFull(limit=self.limit, retry_after_s=RETRY_AFTER_S)

    def added(self, jobs: int = 1) -> None:
        """Jobs this process has just queued (counted until the next count sees them)."""
        self._added += jobs

    async def _recount(self) -> None:
        async with self._lock:
            if self._clock() < self._expires_at:  # another request counted while we waited
                return
            added_before = self._added
            async with self._sessionmaker() as session:
                counted = await JobRepository(session).count_queued()
            # Jobs queued before the count are in it; those queued while it ran may not be, and
            # are kept (counted twice at worst, until the next count).
            self._counted, self._added = counted, self._added - added_before
            self._expires_at = self._clock() + COUNT_TTL_S
