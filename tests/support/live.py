"""An app under a real uvicorn on a free loopback port, for tests that need real HTTP (sockets,
streams, a server's own limits) without a `moneyprinter` process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.processes import free_port

STARTUP_TIMEOUT_S = 20.0


def _server(app: FastAPI) -> tuple[uvicorn.Server, int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    return uvicorn.Server(config), port


@contextmanager
def serving_in_thread(app: FastAPI) -> Iterator[int]:
    """The app served from a thread of its own (its own event loop); yields the port."""
    server, port = _server(app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_S)


@asynccontextmanager
async def serving_in_loop(app: FastAPI) -> AsyncIterator[int]:
    """The app served in the test's own event loop (so the test can reach the app's state, its
    engine, in the same loop); yields the port."""
    server, port = _server(app)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await serving
