"""Postgres LISTEN/NOTIFY: a hint that jobs were queued, so idle workers claim at once.

The queue table is the truth and polling stays the fallback: a lost notification costs at most
one poll interval. NOTIFY takes a database-wide lock at commit, so it is never sent inside the
enqueue transaction; the API sends it after the commit, debounced (at most one in flight, one more
for everything queued meanwhile). SQLite has no NOTIFY: there the worker polls, and `serve` wakes
its worker in-process. The worker's side is `worker/wakeup.py`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import autocommits_one_statement

logger = logging.getLogger(__name__)

CHANNEL = "moneyprinter_jobs"


class JobNotifier:
    """Sends NOTIFY after jobs are queued, debounced."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = autocommits_one_statement(engine)
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def job_queued(self) -> None:
        """Call after the enqueue committed; returns at once."""
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send())

    async def aclose(self) -> None:
        if self._task is not None:
            await self._task

    async def _send(self) -> None:
        while self._pending:
            self._pending = False
            try:
                async with self._engine.connect() as connection:
                    if self._autocommit:  # sent as the statement ends
                        connection = await connection.execution_options(
                            isolation_level="AUTOCOMMIT"
                        )
                    notify = text("SELECT pg_notify(:channel, '')")
                    await connection.execute(notify, {"channel": CHANNEL})
                    await connection.commit()  # a NOTIFY in a transaction is sent at its commit
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("NOTIFY failed; workers will find the job by polling: %s", exc)
