"""MoneyPrinter's side of bench/queue, one measurement per process like the peer's script.

  python -m bench.queue.ours drain URL N CONCURRENCY         # seed N no-op jobs, time the drain
  python -m bench.queue.ours latency URL N INTERVAL_MS OUTFILE  # enqueue N `stamp` jobs one by one
  python -m bench.queue.ours video URL N                      # claim → first progress, video jobs

URL is a plain `postgresql://…/database`. Each command prints one JSON line last.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.models import GenerationEvent, GenerationJob, utcnow
from app.db.notify import JobNotifier
from app.db.repositories import Repositories
from app.db.session import create_engine, create_sessionmaker
from app.domain import EventType, VideoSpec
from app.settings import Settings, async_database_url
from worker.main import Worker

SEED_BATCH = 1000
WAIT_TIMEOUT_S = 60.0
VIDEO_SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


def settings_for(url: str, data_dir: Path, **overrides: Any) -> Settings:
    """The defaults, on this database; no `.env` and no environment override them."""
    return Settings(_env_file=None, database_url=url, data_dir=data_dir, **overrides)  # type: ignore[call-arg]


async def autocommit(engine: AsyncEngine, *statements: str) -> None:
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in statements:
            await connection.execute(text(statement))


async def wal_and_commits(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, xact_commit"
                    " FROM pg_stat_database WHERE datname = current_database()"
                )
            )
        ).one()
    return {"wal_lsn": int(row[0]), "xact_commit": int(row[1])}


async def seed_noop_jobs(maker: async_sessionmaker[AsyncSession], n: int) -> None:
    """N queued `noop` jobs, each with the 'queued' event JobRepository.create writes: rows as
    it makes them, inserted 1000 per transaction (executemany), as the peer's batch_defer does."""
    for start in range(0, n, SEED_BATCH):
        now = utcnow()
        ids = [str(uuid.uuid4()) for _ in range(min(SEED_BATCH, n - start))]
        jobs = [
            {
                "id": job_id, "status": "queued", "kind": "noop", "payload": {}, "priority": 0,
                "max_attempts": 3, "run_at": now, "created_at": now, "updated_at": now,
                "cancel_requested": False, "attempt_count": 0, "progress": 0.0,
            }
            for job_id in ids
        ]  # fmt: skip
        events = [
            {
                "job_id": job_id, "event_type": EventType.STATE.value, "level": "info",
                "message": "Job queued.", "payload": {"state": "queued"}, "created_at": now,
            }
            for job_id in ids
        ]  # fmt: skip
        async with maker.begin() as session:
            await session.execute(insert(GenerationJob.__table__), jobs)
            await session.execute(insert(GenerationEvent.__table__), events)


async def drain(url: str, n: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as data_dir:
        settings = settings_for(url, Path(data_dir))
        engine = create_engine(settings.resolved_database_url)
        maker = create_sessionmaker(engine)
        try:
            # As the peer's reset(): an empty queue with fresh statistics.
            await autocommit(
                engine, "DELETE FROM generation_jobs", "VACUUM ANALYZE generation_jobs"
            )
            await autocommit(engine, "VACUUM ANALYZE generation_events")
            t0 = time.perf_counter()
            await seed_noop_jobs(maker, n)
            # Statistics must know the backlog (QUEUE-NOTES: a stale plan cost seconds a claim).
            await autocommit(engine, "ANALYZE generation_jobs")
            seed_s = time.perf_counter() - t0
            before = await wal_and_commits(engine)
            t1 = time.perf_counter()
            await Worker(settings, maker, concurrency=concurrency).run(wait=False)
            work_s = time.perf_counter() - t1
            after = await wal_and_commits(engine)
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT status, count(*) FROM generation_jobs GROUP BY status")
                )
                statuses = {status: int(count) for status, count in rows.all()}
                events = await connection.scalar(text("SELECT count(*) FROM generation_events"))
        finally:
            await engine.dispose()
    return {
        "n": n, "concurrency": concurrency, "seed_s": seed_s, "work_s": work_s,
        "done": statuses.get("completed", 0), "statuses": statuses, "events": int(events or 0),
        "wal_before": before["wal_lsn"], "wal_after": after["wal_lsn"],
        "commits_before": before["xact_commit"],
    }  # fmt: skip


def started_ids(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {line.split()[0] for line in out.read_text().splitlines() if line.strip()}


async def wait_for(out: Path, job_ids: set[str]) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not job_ids <= started_ids(out):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(job_ids & started_ids(out))} of {len(job_ids)} ran")
        await asyncio.sleep(0.1)


async def latency(url: str, n: int, interval_ms: int, out: Path) -> dict[str, Any]:
    """Enqueue `stamp` jobs one by one as the API does: JobRepository.create in a
    transaction, then, after the commit, JobNotifier.job_queued(). Each job's wall clock just
    after its commit goes to OUTFILE.enqueued; the payload carries the wall clock taken before
    the INSERT."""
    engine = create_engine(async_database_url(url, data_dir=Path()))
    maker = create_sessionmaker(engine)
    notifier = JobNotifier(engine)

    async def enqueue() -> str:
        before_insert = time.time()
        async with maker.begin() as session:
            job = await Repositories(session).jobs.create(
                payload={"t": before_insert}, kind="stamp"
            )
        return job.id

    enqueued: dict[str, float] = {}
    try:
        warm_up = await enqueue()
        notifier.job_queued()
        await wait_for(out, {warm_up})
        await asyncio.sleep(1)
        for _ in range(n):
            job_id = await enqueue()
            enqueued[job_id] = time.time()  # just after the commit
            notifier.job_queued()
            await asyncio.sleep(interval_ms / 1000)
        await wait_for(out, set(enqueued))
        await notifier.aclose()
    finally:
        await engine.dispose()
    write_enqueued(Path(f"{out}.enqueued"), enqueued)
    return {"n": len(enqueued)}


def write_enqueued(path: Path, enqueued: dict[str, float]) -> None:
    path.write_text("".join(f"{job_id} {t:.6f}\n" for job_id, t in enqueued.items()))


async def video(url: str, n: int) -> dict[str, Any]:
    """N draft video jobs with a short script, one at a time; per job, claimed_at → the first
    progress event (the child's first line recorded), and claimed_at → completed_at."""
    with tempfile.TemporaryDirectory(prefix="bench-queue-video-") as data_dir:
        settings = settings_for(
            url,
            Path(data_dir),
            llm_provider="none",
            tts_provider="espeak",
            ollama_base_url="http://127.0.0.1:9",
        )
        engine = create_engine(settings.resolved_database_url)
        maker = create_sessionmaker(engine)
        try:
            await autocommit(engine, "DELETE FROM generation_jobs")
            spec = VideoSpec(video_subject="octopuses", script=VIDEO_SCRIPT, quality="draft")
            for _ in range(n):
                async with maker.begin() as session:
                    await Repositories(session).jobs.create(
                        payload=spec.model_dump(mode="json", by_alias=True)
                    )
            await Worker(settings, maker, concurrency=1).run(wait=False)
            jobs = await _video_timings(engine)
        finally:
            await engine.dispose()
    first = [job["claim_to_first_progress_ms"] for job in jobs]
    return {
        "n": n,
        "jobs": jobs,
        "median_claim_to_first_progress_ms": statistics.median(first),
        "median_claim_to_completed_s": statistics.median(j["claim_to_completed_s"] for j in jobs),
    }


async def _video_timings(engine: AsyncEngine) -> list[dict[str, Any]]:
    query = text(
        """
        SELECT j.id, j.status, j.claimed_at, j.completed_at,
               (SELECT min(e.created_at) FROM generation_events e
                 WHERE e.job_id = j.id AND e.event_type <> 'state'
                   AND e.created_at >= j.claimed_at) AS first_progress_at
          FROM generation_jobs j ORDER BY j.claimed_at
        """
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    jobs = []
    for job_id, status, claimed_at, completed_at, first_progress_at in rows:
        if status != "completed" or first_progress_at is None:
            raise SystemExit(f"video job {job_id} ended {status}")
        jobs.append(
            {
                "id": job_id,
                "claim_to_first_progress_ms": (first_progress_at - claimed_at).total_seconds()
                * 1000,
                "claim_to_completed_s": (completed_at - claimed_at).total_seconds(),
            }
        )
    return jobs


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    if command == "drain":
        result = asyncio.run(drain(url, int(rest[0]), int(rest[1])))
    elif command == "latency":
        result = asyncio.run(latency(url, int(rest[0]), int(rest[1]), Path(rest[2])))
    elif command == "video":
        result = asyncio.run(video(url, int(rest[0])))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
