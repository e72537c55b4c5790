"""Concurrent claimers, each with its own engine as separate workers have, never share a job."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationJob
from app.db.repositories import Repositories
from app.db.session import create_engine, create_sessionmaker
from app.settings import Settings

JOBS = 200
CLAIMERS = 4
BATCH = 3
LEASE_S = 30.0


async def claim_until_empty(maker: async_sessionmaker[AsyncSession], worker_id: str) -> list[str]:
    claimed: list[str] = []
    while True:
        async with maker.begin() as session:
            jobs = await Repositories(session).leases.claim(
                worker_id=worker_id, limit=BATCH, lease_s=LEASE_S
            )
        if not jobs:
            return claimed
        assert len(jobs) <= BATCH
        claimed.extend(job.id for job in jobs)
        await asyncio.sleep(0)  # let the other claimers in


async def test_racing_claimers_take_every_job_exactly_once(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker.begin() as session:
        repository = Repositories(session)
        for number in range(JOBS):
            await repository.jobs.create(payload={"videoSubject": f"subject {number}"})
    engines = [create_engine(settings.resolved_database_url) for _ in range(CLAIMERS)]
    try:
        results = await asyncio.gather(
            *(
                claim_until_empty(create_sessionmaker(engine), f"worker-{index}")
                for index, engine in enumerate(engines)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()

    claims = Counter(job_id for claimed in results for job_id in claimed)
    assert len(claims) == JOBS
    assert set(claims.values()) == {1}
    owner = {job_id: f"worker-{index}" for index, ids in enumerate(results) for job_id in ids}
    async with sessionmaker() as session:
        jobs = (await session.scalars(select(GenerationJob))).all()
    assert len(jobs) == JOBS
    for job in jobs:
        assert job.status == "running"
        assert job.attempt_count == 1
        assert job.worker_id == owner[job.id]
        assert job.lease_token
    assert len({job.lease_token for job in jobs}) == JOBS
