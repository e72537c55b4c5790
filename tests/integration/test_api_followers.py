"""Followers of a job over a real HTTP server: one reader per job however many follow, every
follower gets every event once and the end, a late joiner the whole history, and open streams
are capped with a 503 and Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.api.followers import FEED_EVENTS
from app.db.repositories import Repositories
from app.domain import EventType
from app.main import create_app
from app.settings import Settings
from tests.integration.test_api_events import parse_sse
from tests.support.live import serving_in_loop

POLL_S = 0.1


@dataclass
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def live_app(settings: Settings) -> AsyncIterator[Live]:
    """The app under a real uvicorn in this event loop, and a client of it over TCP."""
    app = create_app(settings)
    async with (
        serving_in_loop(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield Live(app, client, app.state.sessionmaker)


@pytest.fixture
def follow_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"stream_poll_interval_s": POLL_S, "allowed_hosts": ["127.0.0.1"]}
    )


@contextlib.contextmanager
def counting_event_reads(engine: AsyncEngine) -> Iterator[Callable[[], int]]:
    """How many statements have read the events table since the block began."""
    count = 0

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        nonlocal count
        if statement.lstrip().upper().startswith("SELECT") and "generation_events" in statement:
            count += 1

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield lambda: count
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def queue_job(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/generate", json={"videoSubject": "tides", "script": "Hi."})
    assert response.status_code == 200, response.text
    return str(response.json()["jobId"])


async def add_events(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: str, messages: list[str]
) -> None:
    async with sessionmaker.begin() as session:
        repositories = Repositories(session)
        for message in messages:
            await repositories.events.add(job_id, EventType.LOG, message)


async def read_stream(
    client: httpx.AsyncClient, job_id: str, *, opened: asyncio.Event | None = None, **kwargs: object
) -> list[dict[str, str]]:
    """Every message of the job's stream until it ends."""
    text = ""
    async with client.stream("GET", f"/api/jobs/{job_id}/stream", **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200, await response.aread()
        async for chunk in response.aiter_text():
            text += chunk
            if opened is not None and "data:" in text:
                opened.set()
    return parse_sse(text)


def messages_of(stream: list[dict[str, str]]) -> list[str]:
    return [json.loads(m["data"]).get("message", "") for m in stream if m.get("event") != "end"]


async def test_many_followers_cost_one_reader(follow_settings: Settings) -> None:
    followers = 40
    async with live_app(follow_settings) as live:
        job_id = await queue_job(live.client)
        opened = [asyncio.Event() for _ in range(followers)]
        streams = [
            asyncio.create_task(read_stream(live.client, job_id, opened=flag)) for flag in opened
        ]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in opened)), 30)

        window_s = 2.0
        with counting_event_reads(live.app.state.engine) as event_reads:
            for n in range(4):
                await add_events(live.sessionmaker, job_id, [f"step {n}"])
                await asyncio.sleep(window_s / 4)
            reads = event_reads()
        await live.client.post(f"/api/jobs/{job_id}/cancel")
        results = await asyncio.wait_for(asyncio.gather(*streams), 30)

    # One reader polls every POLL_S: about 20 reads in the window, where a poll per follower
    # would be 800.
    assert reads <= 2 * window_s / POLL_S, reads
    expected = ["Job queued.", "step 0", "step 1", "step 2", "step 3", "Job cancelled."]
    for stream in results:
        assert messages_of(stream) == expected
        assert stream[-1] == {"event": "end", "data": json.dumps({"state": "cancelled"})}


async def test_late_followers_get_the_history_and_resume_where_told(
    follow_settings: Settings,
) -> None:
    async with live_app(follow_settings) as live:
        job_id = await queue_job(live.client)
        first_opened = asyncio.Event()
        first = asyncio.create_task(read_stream(live.client, job_id, opened=first_opened))
        await asyncio.wait_for(first_opened.wait(), 30)
        await add_events(live.sessionmaker, job_id, ["one", "two"])
        page = (await live.client.get(f"/api/jobs/{job_id}/events")).json()
        two = next(e["id"] for e in page["events"] if e["message"] == "two")

        late = asyncio.create_task(read_stream(live.client, job_id))
        resumed = asyncio.create_task(
            read_stream(live.client, job_id, headers={"Last-Event-ID": str(two)})
        )
        await asyncio.sleep(3 * POLL_S)
        await live.client.post(f"/api/jobs/{job_id}/cancel")
        streams = await asyncio.wait_for(asyncio.gather(first, late, resumed), 30)

    everything = ["Job queued.", "one", "two", "Job cancelled."]
    assert messages_of(streams[0]) == everything
    assert messages_of(streams[1]) == everything
    assert messages_of(streams[2]) == ["Job cancelled."]


async def test_a_follower_behind_what_the_feed_holds_reads_the_rest_once(
    follow_settings: Settings,
) -> None:
    """More events than a feed keeps: a follower that joins from the start reads the older ones
    from the database, then follows; none is lost or repeated."""
    async with live_app(follow_settings) as live:
        job_id = await queue_job(live.client)
        await add_events(live.sessionmaker, job_id, [f"e{n}" for n in range(2 * FEED_EVENTS + 300)])
        first_opened = asyncio.Event()
        first = asyncio.create_task(read_stream(live.client, job_id, opened=first_opened))
        await asyncio.wait_for(first_opened.wait(), 30)
        await asyncio.sleep(5 * POLL_S)  # the feed has read past what it keeps
        late = asyncio.create_task(read_stream(live.client, job_id))
        await asyncio.sleep(3 * POLL_S)
        await add_events(live.sessionmaker, job_id, ["after"])
        await live.client.post(f"/api/jobs/{job_id}/cancel")
        streams = await asyncio.wait_for(asyncio.gather(first, late), 60)

    expected = ["Job queued.", *(f"e{n}" for n in range(2 * FEED_EVENTS + 300)), "after"]
    expected.append("Job cancelled.")
    for stream in streams:
        assert messages_of(stream) == expected


async def test_streams_past_the_cap_get_503_with_retry_after(follow_settings: Settings) -> None:
    async with live_app(follow_settings.model_copy(update={"max_event_streams": 2})) as live:
        job_id = await queue_job(live.client)
        opened = [asyncio.Event(), asyncio.Event()]
        streams = [
            asyncio.create_task(read_stream(live.client, job_id, opened=flag)) for flag in opened
        ]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in opened)), 30)

        refused = await live.client.get(f"/api/jobs/{job_id}/stream")
        health = await live.client.get("/api/health")
        await live.client.post(f"/api/jobs/{job_id}/cancel")
        await asyncio.wait_for(asyncio.gather(*streams), 30)
        # The two streams ended: their slots are free again.
        again = await live.client.get(f"/api/jobs/{job_id}/stream")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.json() == {
        "status": "error",
        "message": "Too many event streams open (2, the server's limit); try again in 5 s, "
        "or poll GET /api/jobs/{id}/events.",
    }
    assert health.status_code == 200
    assert again.status_code == 200 and "event: end" in again.text


@pytest.mark.parametrize(
    "header",
    ["abc", "-1", "1.5", "99999999999999999999", "9" * 5000],
    ids=["letters", "negative", "fraction", "past-64-bits", "5000-digits"],
)
async def test_stream_refuses_a_last_event_id_that_names_no_event(
    client: httpx.AsyncClient, header: str
) -> None:
    job_id = await queue_job(client)

    response = await client.get(f"/api/jobs/{job_id}/stream", headers={"Last-Event-ID": header})

    assert response.status_code == 400
    assert response.json()["message"] == (
        "Last-Event-ID must be an event id (a whole number up to 4,611,686,018,427,387,904)."
    )
