"""The worker's LISTEN side of `app/db/notify.py`: wake the claim loop when jobs are queued.

One dedicated asyncpg connection (not from the pool: a pooled connection is handed to others
and would drop the LISTEN). When it breaks (Postgres restarted, the backend was terminated, the
network dropped), it reconnects with capped backoff and wakes the worker right after each
(re)connect: jobs queued while it was deaf are found by that poll. A listener failure never
stops the worker; polling carries on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

from app.db.dialect import Dialect
from app.db.notify import CHANNEL
from worker.retry import retry_delay_s

logger = logging.getLogger(__name__)

# How often an idle listener checks its connection: a connection dropped without a FIN would
# otherwise look alive until TCP keepalive gives up.
PING_INTERVAL_S = 10.0
PING_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


def asyncpg_dsn(database_url: str) -> str | None:
    """The plain `postgresql://` DSN for asyncpg, or None when the database is not Postgres."""
    url = make_url(database_url)
    if url.get_backend_name() != Dialect.POSTGRES:
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_jobs(dsn: str, wake: Callable[[], None], *, name: str = "worker") -> None:
    """LISTEN until cancelled, calling `wake` on every notification and after every connect."""
    failures = 0
    connected_before = False
    while True:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(dsn, timeout=PING_TIMEOUT_S)
            if connected_before:
                logger.info("%s: listening for new jobs again", name)
            connected_before = True
            failures = 0
            await _listen(connection, wake)
            logger.warning("%s: the LISTEN connection closed; reconnecting", name)
        except Exception as exc:  # whatever it was, the worker goes on (polling) and retries
            failures += 1
            delay_s = retry_delay_s(failures, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S)
            logger.warning(
                "%s: LISTEN failed (%s); polling meanwhile, reconnecting in %.1f s",
                name, exc, delay_s,
            )  # fmt: skip
            await asyncio.sleep(delay_s)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), PING_TIMEOUT_S)


async def _listen(connection: asyncpg.Connection, wake: Callable[[], None]) -> None:
    """LISTEN on `connection` until it breaks."""
    closed = asyncio.Event()
    connection.add_termination_listener(lambda _connection: closed.set())
    await connection.add_listener(CHANNEL, lambda *_args: wake())
    wake()  # poll now: jobs queued while nobody listened got no notification
    while not closed.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed.wait(), PING_INTERVAL_S)
        if not closed.is_set():
            await connection.execute("SELECT 1", timeout=PING_TIMEOUT_S)
