"""The worker's batched statements on both databases: a claim logs one 'started' event per job,
and a batch completion fences every job by its own lease token and logs one event per job."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationEvent, GenerationJob
from app.db.repositories import Repositories
from app.settings import Settings
from worker.main import Worker

Maker = async_sessionmaker[AsyncSession]


async def queue_noop_jobs(maker: Maker, count: int) -> list[str]:
    async with maker.begin() as session:
        repository = Repositories(session)
        return [(await repository.jobs.create(payload={}, kind="noop")).id for _ in range(count)]


async def read(maker: Maker, job_id: str) -> tuple[GenerationJob, list[GenerationEvent]]:
    async with maker() as session:
        repository = Repositories(session)
        job = await repository.jobs.get(job_id)
        events = list(await repository.events.list_after(job_id))
    assert job is not None
    return job, events


async def test_a_claim_logs_one_started_event_per_job(sessionmaker: Maker) -> None:
    async with sessionmaker.begin() as session:
        repository = Repositories(session)
        queued = [(await repository.jobs.create(payload={}, kind="noop")).id for _ in range(3)]
        # Claimed in the session that created them: the jobs it returns are the claimed rows,
        # not the queued objects it already holds.
        claimed = await repository.leases.claim(worker_id="w1", limit=5, lease_s=30)

    assert sorted(job.id for job in claimed) == sorted(queued)
    assert {job.status for job in claimed} == {"running"}
    assert len({job.lease_token for job in claimed}) == 3
    for job in claimed:
        _, events = await read(sessionmaker, job.id)
        assert [(e.event_type, e.message) for e in events] == [
            ("state", "Job queued."),
            ("state", "Job started (attempt 1 of 3)."),
        ]
        assert events[1].payload == {"state": "running", "attempt": 1, "worker": "w1"}


async def test_a_batch_completion_fences_each_job_by_its_own_token(sessionmaker: Maker) -> None:
    await queue_noop_jobs(sessionmaker, 4)
    async with sessionmaker.begin() as session:
        jobs = await Repositories(session).leases.claim(worker_id="w1", limit=4, lease_s=30)
    done, also_done, cancelled, lost = jobs
    async with sessionmaker.begin() as session:
        await Repositories(session).jobs.request_cancel(cancelled.id)
    leases = {job.id: job.lease_token or "" for job in (done, also_done, cancelled)}
    leases[lost.id] = "a token from an older claim"

    async with sessionmaker.begin() as session:
        ends = await Repositories(session).leases.complete_many(leases)

    assert ends == {
        done.id: "completed",
        also_done.id: "completed",
        cancelled.id: "cancelled",
        lost.id: "lost",
    }
    for job_id, status, last_event in (
        (done.id, "completed", "Job completed."),
        (also_done.id, "completed", "Job completed."),
        (cancelled.id, "cancelled", "Job cancelled."),
        (lost.id, "running", "Job started (attempt 1 of 3)."),
    ):
        job, events = await read(sessionmaker, job_id)
        assert job.status == status
        assert events[-1].message == last_event
        assert sum(event.message == "Job completed." for event in events) == (
            1 if status == "completed" else 0
        )
    job, _ = await read(sessionmaker, done.id)
    assert job.completed_at is not None and job.leased_until is None and job.progress == 1.0
    job, _ = await read(sessionmaker, lost.id)
    assert job.lease_token == lost.lease_token  # the stale claim changed nothing


async def test_a_worker_completes_in_loop_jobs_in_batches(
    settings: Settings, sessionmaker: Maker
) -> None:
    job_ids = await queue_noop_jobs(sessionmaker, 25)

    await Worker(settings, sessionmaker, concurrency=4).run(wait=False)

    for job_id in job_ids:
        job, events = await read(sessionmaker, job_id)
        assert job.status == "completed"
        assert job.attempt_count == 1
        assert [event.message for event in events] == [
            "Job queued.",
            "Job started (attempt 1 of 3).",
            "Job completed.",
        ]
