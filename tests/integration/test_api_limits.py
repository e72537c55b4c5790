"""Limits on what one client can ask of the API, on SQLite and Postgres: the cap on queued jobs
(429 with Retry-After), and a search that cannot reach the database as NUL."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import Repositories
from app.settings import Settings

CAP = 2
SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
BODY = {"videoSubject": "octopuses", "script": SCRIPT}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_queued_jobs": CAP})


async def fill_the_queue(maker: async_sessionmaker[AsyncSession]) -> list[str]:
    """CAP queued jobs, stored as another API process would have."""
    async with maker.begin() as session:
        jobs = [
            await Repositories(session).jobs.create(payload={"videoSubject": f"job {n}"})
            for n in range(CAP)
        ]
    return [job.id for job in jobs]


async def jobs_total(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/jobs")).json()["total"])


def assert_queue_full(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.json() == {
        "status": "error",
        "message": f"The queue is full ({CAP:,} jobs waiting, the server's limit); "
        "try again in 30 s.",
    }


async def test_generate_is_refused_with_retry_after_once_the_queue_is_full(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(CAP):
        assert (await client.post("/api/generate", json=BODY)).status_code == 200

    refused = await client.post("/api/generate", json=BODY)

    assert_queue_full(refused)
    assert await jobs_total(client) == CAP


async def test_jobs_queued_by_others_count_too(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await fill_the_queue(sessionmaker)

    assert_queue_full(await client.post("/api/generate", json=BODY))
    assert await jobs_total(client) == CAP


async def test_a_repeated_request_still_gets_its_job_when_the_queue_is_full(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"Idempotency-Key": "tides-1"}
    first = (await client.post("/api/generate", json=BODY, headers=headers)).json()["jobId"]
    await fill_the_queue(sessionmaker)

    again = await client.post("/api/generate", json=BODY, headers=headers)

    assert again.status_code == 200 and again.json()["jobId"] == first


async def test_retry_is_refused_while_the_queue_is_full(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker.begin() as session:
        jobs = Repositories(session).jobs
        cancelled = await jobs.create(payload={"videoSubject": "to retry"})
        await jobs.request_cancel(cancelled.id)
    await fill_the_queue(sessionmaker)

    refused = await client.post(f"/api/jobs/{cancelled.id}/retry")

    assert_queue_full(refused)
    job = (await client.get(f"/api/jobs/{cancelled.id}")).json()["job"]
    assert job["state"] == "cancelled"


async def test_the_queue_takes_jobs_again_once_it_has_room(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    queued = await fill_the_queue(sessionmaker)
    assert_queue_full(await client.post("/api/generate", json=BODY))

    assert (await client.post(f"/api/jobs/{queued[0]}/cancel")).status_code == 200

    # The API counts the queue at most once a second: the room shows within that.
    deadline = time.monotonic() + 10
    while (response := await client.post("/api/generate", json=BODY)).status_code == 429:
        assert time.monotonic() < deadline, "the cancelled job's place never became free"
        await asyncio.sleep(0.1)
    assert response.status_code == 200
    assert_queue_full(await client.post("/api/generate", json=BODY))


@pytest.mark.parametrize("q", ["\x00", "octo\x00pus"])
async def test_a_search_with_a_nul_character_is_refused(client: httpx.AsyncClient, q: str) -> None:
    await client.post("/api/generate", json=BODY)

    response = await client.get("/api/jobs", params={"q": q})

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "query parameter q: must not contain NUL characters",
    }
