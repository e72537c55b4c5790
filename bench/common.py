"""What the benchmark harnesses share: medians of repeated runs, stopping a child process, and a
fresh Postgres database for a run."""

from __future__ import annotations

import asyncio
import signal
import statistics
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over runs that all measured the same figures."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def medians_by_side(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """`median_of` for every side (database, renderer…) that has runs."""
    return {side: median_of(results) for side, results in runs.items() if results}


def stop(process: subprocess.Popen[bytes], *, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def fresh_postgres_database(dsn: str, *, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of `dsn` (a `postgresql://…/db` URL whose user may
    create databases); yields its URL, and drops it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        base, _, _ = dsn.rpartition("/")
        yield f"{base}/{name}"
    finally:
        asyncio.run(_postgres_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
