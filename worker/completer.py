"""Batched completion of in-loop jobs: every job that finishes while one batch is being written
goes into the next, so a busy worker writes one fenced UPDATE (and one INSERT of their events)
for many jobs instead of a transaction each. An idle worker's job is written at once: a batch
never waits for company.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.db.repositories import Repositories

Ends = dict[str, str]
RunInTransaction = Callable[[Callable[[Repositories], Awaitable[Ends]]], Awaitable[Ends]]


class Completer:
    """Marks jobs completed in batches; each caller gets its own job's end."""

    def __init__(self, run: RunInTransaction) -> None:
        self._run = run  # the worker's retrying transaction runner
        self._pending: dict[str, tuple[str, asyncio.Future[str]]] = {}
        self._writer: asyncio.Task[None] | None = None

    async def complete(self, job_id: str, token: str) -> str:
        """The job's end: completed, cancelled (the cancel came first) or lost (the lease was)."""
        end: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = (token, end)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # A caller cancelled meanwhile cancels only its own future, not the batch being written.
        return await end

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            leases = {job_id: token for job_id, (token, _end) in batch.items()}

            async def complete_all(db: Repositories, leases: Ends = leases) -> Ends:
                return await db.leases.complete_many(leases)

            try:
                ends = await self._run(complete_all)
            except Exception as exc:  # each job's own boundary handles it, as if it wrote alone
                for _token, end in batch.values():
                    if not end.done():
                        end.set_exception(exc)
                continue
            except BaseException:  # cancelled: nobody may be left waiting
                for _token, end in [*batch.values(), *self._pending.values()]:
                    end.cancel()
                raise
            for job_id, (_token, end) in batch.items():
                if not end.done():
                    end.set_result(ends.get(job_id, "lost"))
