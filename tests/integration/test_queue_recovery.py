"""Recovery on both databases: expired leases reaped, retryable failures retried with backoff
until the attempts run out, and `POST /api/jobs/{id}/retry` for the dead-lettered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationJob
from app.db.repositories import Repositories
from app.db.statements import LEASE_EXPIRED_MESSAGE
from app.domain import VideoSpec
from app.settings import Settings
from tests.fakes import openai_speech
from tests.fakes.server import serving
from worker.main import Worker

Maker = async_sessionmaker[AsyncSession]


async def queue(maker: Maker, **options: Any) -> str:
    spec = VideoSpec(video_subject="tides", script="The moon pulls the sea.", quality="draft")
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload=spec.model_dump(mode="json", by_alias=True), **options
        )
    return job.id


async def claim_with_expired_lease(maker: Maker) -> GenerationJob:
    async with maker.begin() as session:
        [job] = await Repositories(session).leases.claim(worker_id="gone", limit=1, lease_s=-1)
    return job


async def reap(maker: Maker) -> list[GenerationJob]:
    async with maker.begin() as session:
        return await Repositories(session).leases.reap_expired()


async def read(maker: Maker, job_id: str) -> tuple[GenerationJob, list[str]]:
    async with maker() as session:
        repository = Repositories(session)
        job = await repository.jobs.get(job_id)
        events = [event.event_type for event in await repository.events.list_after(job_id)]
    assert job is not None
    return job, events


async def test_an_expired_lease_goes_back_to_the_queue(sessionmaker: Maker) -> None:
    job_id = await queue(sessionmaker)
    await claim_with_expired_lease(sessionmaker)
    live_id = await queue(sessionmaker)
    async with sessionmaker.begin() as session:
        await Repositories(session).leases.claim(worker_id="alive", limit=1, lease_s=30)

    reaped = await reap(sessionmaker)
    again = await reap(sessionmaker)

    assert [job.id for job in reaped] == [job_id]
    assert again == []
    job, events = await read(sessionmaker, job_id)
    assert job.status == "queued" and job.lease_token is None and job.worker_id is None
    assert job.error_message == LEASE_EXPIRED_MESSAGE
    assert events[-1] == "retry"
    assert (await read(sessionmaker, live_id))[0].status == "running"


async def test_an_expired_lease_on_the_last_attempt_fails_and_a_cancelled_one_ends(
    sessionmaker: Maker,
) -> None:
    last_id = await queue(sessionmaker, max_attempts=1)
    await claim_with_expired_lease(sessionmaker)
    cancel_id = await queue(sessionmaker)
    await claim_with_expired_lease(sessionmaker)
    async with sessionmaker.begin() as session:
        await Repositories(session).jobs.request_cancel(cancel_id)

    await reap(sessionmaker)

    last, _ = await read(sessionmaker, last_id)
    cancelled, _ = await read(sessionmaker, cancel_id)
    assert last.status == "failed" and last.completed_at is not None
    assert cancelled.status == "cancelled" and cancelled.completed_at is not None


async def test_a_retryable_failure_is_retried_then_dead_lettered(
    settings: Settings, sessionmaker: Maker
) -> None:
    with serving(openai_speech.handler(mode="error")) as url:
        speech = settings.model_copy(
            update={
                "tts_provider": "openai",
                "speech_base_url": f"{url}/v1",
                "speech_api_key": openai_speech.API_KEY,
                "retry_base_s": 0.05,
                "retry_cap_s": 0.1,
            }
        )
        job_id = await queue(sessionmaker, max_attempts=2)
        worker = Worker(speech, sessionmaker)
        running = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(90):
                while (await read(sessionmaker, job_id))[0].status != "failed":
                    await asyncio.sleep(0.1)
        finally:
            worker.stop(now=True)
            await running

    job, events = await read(sessionmaker, job_id)
    assert job.attempt_count == 2
    assert "HTTP 500" in (job.error_message or "")
    assert events.count("retry") == 1
    assert events[-1] == "state"


async def test_retry_route_requeues_failed_and_cancelled_jobs(
    client: httpx.AsyncClient, sessionmaker: Maker
) -> None:
    job_id = (await client.post("/api/generate", json={"videoSubject": "x"})).json()["jobId"]
    async with sessionmaker.begin() as session:
        await session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == job_id)
            .values(status="failed", attempt_count=3, error_message="boom")
        )

    retried = await client.post(f"/api/jobs/{job_id}/retry")
    again = await client.post(f"/api/jobs/{job_id}/retry")
    unknown = await client.post("/api/jobs/00000000-0000-4000-8000-000000000000/retry")

    assert retried.status_code == 200
    assert retried.json() == {
        "status": "success", "message": "Job requeued.", "jobId": job_id, "state": "queued",
    }  # fmt: skip
    job = (await client.get(f"/api/jobs/{job_id}")).json()["job"]
    assert job["state"] == "queued" and job["attemptCount"] == 0 and job["errorMessage"] is None
    assert again.status_code == 409
    assert again.json()["message"] == (
        "Job is queued; only failed or cancelled jobs can be retried."
    )
    assert unknown.status_code == 404 and unknown.json()["message"] == "Job not found."
