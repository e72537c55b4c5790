"""Group commit of POST /api/generate: concurrent requests share transactions, and each gets what
storing its own job alone would have given it."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.enqueuer import Enqueuer
from app.db.repositories import Repositories
from app.db.statements import new_job_row

SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


async def test_concurrent_requests_each_queue_a_job_with_its_event(
    client: httpx.AsyncClient,
) -> None:
    bodies = [{"videoSubject": f"subject {n}", "script": SCRIPT} for n in range(40)]

    responses = await asyncio.gather(*(client.post("/api/generate", json=b) for b in bodies))

    assert [r.status_code for r in responses] == [200] * 40
    ids = {r.json()["jobId"] for r in responses}
    assert len(ids) == 40
    listed = (await client.get("/api/jobs", params={"limit": 100})).json()
    assert listed["total"] == 40
    assert {job["videoSubject"] for job in listed["jobs"]} == {b["videoSubject"] for b in bodies}
    for job_id in ids:
        events = (await client.get(f"/api/jobs/{job_id}/events")).json()["events"]
        assert [(e["type"], e["message"]) for e in events] == [("state", "Job queued.")]


async def test_concurrent_requests_with_one_idempotency_key_share_one_job(
    client: httpx.AsyncClient,
) -> None:
    body = {"videoSubject": "octopuses", "script": SCRIPT}
    headers = {"Idempotency-Key": "same-key"}

    responses = await asyncio.gather(
        *(client.post("/api/generate", json=body, headers=headers) for _ in range(6))
    )

    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()["jobId"] for r in responses}) == 1
    assert (await client.get("/api/jobs")).json()["total"] == 1


async def test_a_job_that_cannot_be_stored_fails_alone(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker.begin() as session:
        taken = await Repositories(session).jobs.create(payload={}, idempotency_key="taken")
    enqueuer = Enqueuer(sessionmaker)
    rows = [new_job_row(payload={"videoSubject": f"subject {n}"}) for n in range(5)]
    rows.insert(2, new_job_row(payload={"videoSubject": "duplicate"}, idempotency_key="taken"))

    results = await asyncio.gather(*(enqueuer.enqueue(row) for row in rows), return_exceptions=True)
    await enqueuer.aclose()

    assert isinstance(results[2], IntegrityError)
    stored = [row["id"] for row in rows if row["idempotency_key"] is None]
    assert [r for r in results if not isinstance(r, BaseException)] == stored
    async with sessionmaker() as session:
        repository = Repositories(session)
        for job_id in stored:
            assert await repository.jobs.get(job_id) is not None
            assert [e.message for e in await repository.events.list_after(job_id)] == [
                "Job queued."
            ]
        jobs, total = await repository.jobs.page()
        assert total == 6 and taken.id in {job.id for job in jobs}
