"""Group commit for POST /api/generate: jobs queued at the same moment share one transaction.

A request hands its job's row to the Enqueuer and waits until it is committed. One transaction
runs at a time; whatever is handed in meanwhile goes into the next one. On an idle server a job
waits for nobody (its transaction starts at once); under load transactions grow instead of
queueing, which is where the time went: on SQLite every transaction is a turn at the one write
lock, and a transaction costs the API several times what a row in it does. A failed transaction
is retried one job at a time, so a job that cannot be stored (a duplicate idempotency key) fails
its own request only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import JobRepository

# Rows per transaction at most: a burst is committed in pieces, so no request waits for all of it.
MAX_BATCH = 100

_Waiting = tuple[dict[str, Any], "asyncio.Future[None]"]


class Enqueuer:
    """Inserts queued jobs in batches, one transaction at a time."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None

    async def enqueue(self, job: dict[str, Any]) -> str:
        """Store `job` (a row from `new_job_row`) and its 'queued' event; return its id once they
        are committed. Raises what storing it alone raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        # Shielded: a request cancelled while it waits must not cancel the others' transaction.
        await asyncio.shield(done)
        return str(job["id"])

    async def aclose(self) -> None:
        """Wait until everything handed in is stored (or has failed)."""
        while self._task is not None and not self._task.done():
            await self._task

    async def _run(self) -> None:
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
            await self._commit(batch)

    async def _commit(self, batch: list[_Waiting]) -> None:
        try:
            async with self._sessionmaker.begin() as session:
                await JobRepository(session).enqueue([job for job, _ in batch])
        except Exception as exc:
            # The batch's boundary: whatever went wrong belongs to the requests waiting on it.
            if len(batch) > 1:
                for waiting in batch:  # one at a time, so only the job at fault fails
                    await self._commit([waiting])
                return
            _settle(batch[0][1], exc)
            return
        for _, done in batch:
            _settle(done, None)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # its request was cancelled
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
