"""A job that runs past MONEYPRINTER_JOB_TIMEOUT_S, with a real worker and child on each
database: it is stopped (its whole process group) and failed at once, not retried."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import Repositories
from app.domain import VideoSpec
from app.settings import Settings
from worker.main import Worker

Maker = async_sessionmaker[AsyncSession]

# About two minutes of narration: far longer than the limit below.
LONG_SCRIPT = " ".join(f"Fact number {n}: the octopus keeps surprising us." for n in range(60))
RUN_TIMEOUT_S = 60.0


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies are dead)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


async def test_a_job_past_its_time_limit_fails_at_once_without_a_retry(
    settings: Settings, sessionmaker: Maker
) -> None:
    settings = settings.model_copy(update={"job_timeout_s": 1.0, "retry_base_s": 0.01})
    spec = VideoSpec(video_subject="octopuses", quality="draft", script=LONG_SCRIPT)
    async with sessionmaker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload=spec.model_dump(mode="json", by_alias=True), max_attempts=10
        )
    worker = Worker(settings, sessionmaker)
    task = asyncio.create_task(worker.run(wait=False))
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while (pgid := worker.running_child_pid(job.id)) is None:
        assert not task.done() and time.monotonic() < deadline
        await asyncio.sleep(0.02)

    await asyncio.wait_for(task, RUN_TIMEOUT_S)  # the queue is empty: nothing to run again

    async with sessionmaker() as session:
        stored = await Repositories(session).jobs.get(job.id)
        events = await Repositories(session).events.list_after(job.id)
    assert stored is not None
    assert (stored.status, stored.attempt_count, stored.max_attempts) == ("failed", 1, 10)
    assert stored.error_message == (
        "The job ran longer than its 1 s limit and was stopped; it is not retried. A shorter "
        "script renders faster; the limit is MONEYPRINTER_JOB_TIMEOUT_S."
    )
    assert "retry" not in [event.event_type for event in events]
    final = events[-1]
    assert final.payload is not None
    assert (final.payload["state"], final.payload["retryable"]) == ("failed", False)
    assert final.payload["timeout"] is True
    # The child and whatever it ran (espeak-ng, ffmpeg) were killed: gone as soon as reaped.
    deadline = time.monotonic() + 2.0
    while group_alive(pgid):
        assert time.monotonic() < deadline, "the job's processes outlived its timeout"
        await asyncio.sleep(0.05)
