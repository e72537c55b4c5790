"""The service in the test's own event loop: the app behind an ASGI client, and a Worker run as a
task, each for the length of an `async with` block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from app.settings import Settings
from worker.main import Worker

STOP_TIMEOUT_S = 90.0


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An ASGI client of a fresh app (its lifespan run) on `settings`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@asynccontextmanager
async def running_worker(
    settings: Settings, maker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Worker]:
    """A Worker claiming from the block's start; stopped (gracefully) at its end."""
    worker = Worker(settings, maker)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, STOP_TIMEOUT_S)
