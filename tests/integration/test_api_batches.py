"""The batch routes over the ASGI app, on SQLite and Postgres: queue, read, list, cancel, retry,
bad entries, the size limit, the queue cap, and the priority that lets single videos first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.queue_cap import COUNT_TTL_S
from app.db.models import GenerationJob
from app.db.repositories import Repositories
from app.main import create_app
from app.settings import Settings

Maker = async_sessionmaker[AsyncSession]
SCRIPT = "Octopuses have three hearts."


async def queue_batch(client: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await client.post("/api/batches", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


async def read_batch(client: httpx.AsyncClient, batch_id: object) -> dict[str, object]:
    response = await client.get(f"/api/batches/{batch_id}")
    assert response.status_code == 200, response.text
    read: dict[str, object] = response.json()
    return read


async def test_a_batch_queues_one_job_per_entry_over_the_shared_options(
    client: httpx.AsyncClient,
) -> None:
    created = await queue_batch(
        client,
        title="Ocean week",
        options={"quality": "draft", "script": SCRIPT, "language": "en", "videoSubject": "x"},
        jobs=[
            {"video_subject": "Octopuses"},  # either spelling: the entry's own field wins
            {"videoSubject": "Whales", "script": "Whales sing for hours."},
            {"videoSubject": "Reefs", "aspect": "1:1"},
        ],
    )

    assert created["message"] == "Batch queued."
    job_ids = created["jobIds"]
    assert isinstance(job_ids, list) and len(job_ids) == 3
    read = await read_batch(client, created["batchId"])
    batch = read["batch"]
    assert isinstance(batch, dict)
    assert (batch["title"], batch["total"], batch["priority"]) == ("Ocean week", 3, -1)
    assert (batch["state"], batch["progress"], batch["counts"]) == ("running", 0.0, {"queued": 3})
    jobs = read["jobs"]
    assert isinstance(jobs, list)
    assert [job["id"] for job in jobs] == job_ids  # in the order given
    assert [job["videoSubject"] for job in jobs] == ["Octopuses", "Whales", "Reefs"]
    payloads = [(await client.get(f"/api/jobs/{i}")).json()["job"] for i in job_ids]
    assert [job["payload"]["script"] for job in payloads] == [
        SCRIPT,
        "Whales sing for hours.",
        SCRIPT,
    ]
    assert [job["payload"]["aspect"] for job in payloads] == ["9:16", "9:16", "1:1"]
    assert {job["payload"]["quality"] for job in payloads} == {"draft"}
    assert {job["priority"] for job in payloads} == {-1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"jobs": []}, "jobs: List should have at least 1 item after validation, not 0"),
        (
            {"title": "Ocean\x00week", "jobs": [{"videoSubject": "A"}]},
            "title: must not contain NUL characters",
        ),
        (
            {"jobs": [{"videoSubject": "A", "script": "Nul\x00here."}]},
            "jobs[0].script: must not contain NUL characters",
        ),
        (
            {"jobs": [{"videoSubject": "A"}, {"script": SCRIPT}]},
            "jobs[1].videoSubject is required.",
        ),
        (
            {"jobs": [{"videoSubject": "A", "aspect": "4:3"}]},
            "jobs[0].aspect: Input should be '9:16', '16:9' or '1:1'",
        ),
        (
            {"jobs": [{"videoSubject": "A", "priority": 5}]},
            "jobs[0].priority: set it for the whole batch, beside `jobs`.",
        ),
        (
            {"jobs": [{"videoSubject": "A", "scirpt": SCRIPT}]},
            "jobs[0].scirpt: not a field of a video (see /api/generate).",
        ),
        (
            {"options": {"aspect": "4:3"}, "jobs": [{"videoSubject": "A"}]},
            "options.aspect: Input should be '9:16', '16:9' or '1:1'",
        ),
        (
            {"options": {"song": "missing.mp3"}, "jobs": [{"videoSubject": "A"}]},
            "jobs[0].song: no uploaded song is named 'missing.mp3'.",
        ),
    ],
)
async def test_a_bad_entry_is_named_and_nothing_is_queued(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    response = await client.post("/api/batches", json=body)

    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": message}
    assert (await client.get("/api/jobs")).json()["total"] == 0
    assert (await client.get("/api/batches")).json()["total"] == 0


@asynccontextmanager
async def serving(settings: Settings, **limits: int) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with these settings changed."""
    app = create_app(settings.model_copy(update=limits))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


@pytest.fixture
async def small_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose batches hold at most 3 videos and whose queue holds at most 4 jobs."""
    async with serving(settings, max_batch_jobs=3, max_queued_jobs=4) as client:
        yield client


async def test_a_batch_larger_than_the_queue_is_refused_for_good(settings: Settings) -> None:
    async with serving(settings, max_queued_jobs=2) as client:
        jobs = [{"videoSubject": f"Topic {n}", "script": SCRIPT} for n in range(3)]
        response = await client.post("/api/batches", json={"jobs": jobs})

    assert response.status_code == 400  # not 429: waiting would never make room
    assert response.json()["message"] == (
        "jobs: 3 entries, more than the queue ever holds (MONEYPRINTER_MAX_QUEUED_JOBS=2): "
        "split the batch."
    )


async def test_the_size_limit_and_the_queue_cap_refuse_a_whole_batch(
    small_client: httpx.AsyncClient,
) -> None:
    four = [{"videoSubject": f"Topic {n}", "script": SCRIPT} for n in range(4)]
    too_big = await small_client.post("/api/batches", json={"jobs": four})
    assert too_big.status_code == 400
    assert "4 entries, more than the 3 a batch may hold" in too_big.json()["message"]

    first = await queue_batch(small_client, jobs=four[:2])
    over_cap = await small_client.post("/api/batches", json={"jobs": four[:3]})
    assert over_cap.status_code == 429 and "Retry-After" in over_cap.headers
    await queue_batch(small_client, jobs=four[:2])  # exactly to the cap
    assert (await small_client.get("/api/jobs")).json()["total"] == 4

    # A retry counts the queue again once the last count is stale (on SQLite, with its one
    # pooled connection, while no other session holds it).
    await small_client.post(f"/api/batches/{first['batchId']}/cancel")
    await asyncio.sleep(COUNT_TTL_S + 0.1)
    retried = await small_client.post(f"/api/batches/{first['batchId']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["message"] == "Requeued 2 job(s)."


async def test_a_single_video_queued_after_a_batch_is_claimed_first(
    client: httpx.AsyncClient, sessionmaker: Maker
) -> None:
    created = await queue_batch(
        client, jobs=[{"videoSubject": f"Topic {n}", "script": SCRIPT} for n in range(3)]
    )
    single = await client.post("/api/generate", json={"videoSubject": "Alone", "script": SCRIPT})

    async with sessionmaker.begin() as session:
        claimed = await Repositories(session).leases.claim(worker_id="w", limit=2, lease_s=30)

    job_ids = created["jobIds"]
    assert isinstance(job_ids, list)
    assert [job.id for job in claimed] == [single.json()["jobId"], job_ids[0]]


async def test_cancel_then_retry_a_batch_and_follow_its_figures(
    client: httpx.AsyncClient, sessionmaker: Maker
) -> None:
    created = await queue_batch(
        client, jobs=[{"videoSubject": f"Topic {n}", "script": SCRIPT} for n in range(4)]
    )
    batch_id, job_ids = created["batchId"], created["jobIds"]
    assert isinstance(job_ids, list)
    async with sessionmaker.begin() as session:  # one done, one halfway
        await session.execute(
            update(GenerationJob).where(GenerationJob.id == job_ids[0]).values(status="completed")
        )
        await session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == job_ids[1])
            .values(status="running", progress=0.5)
        )
    batch = (await read_batch(client, batch_id))["batch"]
    assert isinstance(batch, dict)
    assert batch["counts"] == {"completed": 1, "running": 1, "queued": 2}
    assert batch["progress"] == pytest.approx((1 + 0.5) / 4)

    cancelled = (await client.post(f"/api/batches/{batch_id}/cancel")).json()
    assert cancelled["jobIds"] == job_ids[1:] and cancelled["message"] == "Cancelling 3 job(s)."
    batch = (await read_batch(client, batch_id))["batch"]
    assert isinstance(batch, dict)
    # The running job waits for its worker to stop it; the queued ones are cancelled at once.
    assert batch["counts"] == {"completed": 1, "running": 1, "cancelled": 2}

    retried = (await client.post(f"/api/batches/{batch_id}/retry")).json()
    assert retried["jobIds"] == job_ids[2:] and retried["message"] == "Requeued 2 job(s)."
    listed = (await client.get("/api/batches")).json()
    assert [entry["id"] for entry in listed["batches"]] == [batch_id]
    assert listed["batches"][0]["counts"] == {"completed": 1, "running": 1, "queued": 2}


async def test_an_unknown_batch_is_404(client: httpx.AsyncClient) -> None:
    for path in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        for method, suffix in (("GET", ""), ("POST", "/cancel"), ("POST", "/retry")):
            response = await client.request(method, f"/api/batches/{path}{suffix}")
            assert response.status_code == 404
            assert response.json() == {"status": "error", "message": "Batch not found."}


async def test_a_repeated_idempotency_key_returns_the_first_batch(
    client: httpx.AsyncClient,
) -> None:
    body = {"jobs": [{"videoSubject": "Octopuses", "script": SCRIPT}]}
    headers = {"Idempotency-Key": "ocean-week-1"}

    first = await client.post("/api/batches", json=body, headers=headers)
    again = await client.post("/api/batches", json=body, headers=headers)
    other = await client.post("/api/batches", json=body, headers={"Idempotency-Key": "other"})

    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json()
    assert other.json()["batchId"] != first.json()["batchId"]
    assert (await client.get("/api/batches")).json()["total"] == 2
    assert (await client.get("/api/jobs")).json()["total"] == 2
