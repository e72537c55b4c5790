"""`moneyprinter` with one more job kind, `probe`, for the fault tests' real worker processes.

A probe's body records that it ran, in `probe_runs` (primary key job id + attempt, so a second
run of the same attempt is an error), then sleeps `sleepS` seconds on the attempts listed in
`sleepOnAttempts` (all when absent). The table is the test's, created by it; the body writes
through its own engine, as a real job's side effect would.

Usage: python -m tests.support.probe_worker worker --concurrency 2   (same as `moneyprinter`)
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import create_engine
from app.settings import Settings
from worker import cli
from worker.kinds import in_loop_kind
from worker.runner import RunningJob

PROBE_TABLE = """
CREATE TABLE probe_runs (
    job_id VARCHAR(36) NOT NULL,
    attempt INTEGER NOT NULL,
    worker_id VARCHAR(200) NOT NULL,
    PRIMARY KEY (job_id, attempt)
)
"""

_engine: AsyncEngine | None = None


def _probe_engine() -> AsyncEngine:
    global _engine
    if _engine is None:
        _engine = create_engine(Settings().resolved_database_url)
    return _engine


@in_loop_kind("probe")
async def probe(job: RunningJob) -> None:
    worker_id = str((job.log.extra or {}).get("worker_id", ""))
    async with _probe_engine().begin() as connection:
        await connection.execute(
            text("INSERT INTO probe_runs (job_id, attempt, worker_id) VALUES (:j, :a, :w)"),
            {"j": job.id, "a": job.attempt, "w": worker_id},
        )
    sleep_on = job.payload.get("sleepOnAttempts")
    if sleep_on is None or job.attempt in sleep_on:
        await asyncio.sleep(float(job.payload.get("sleepS", 0)))


if __name__ == "__main__":
    sys.exit(cli.main())
