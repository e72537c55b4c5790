"""Events of a job: paging with `after=` and the server-sent event stream with `Last-Event-ID`."""

from __future__ import annotations

import json

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import Repositories
from app.domain import EventType


def parse_sse(text: str) -> list[dict[str, str]]:
    messages = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if fields:
            messages.append(fields)
    return messages


async def make_job_with_events(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> str:
    response = await client.post("/api/generate", json={"videoSubject": "tides", "script": "Hi."})
    job_id = str(response.json()["jobId"])
    async with sessionmaker.begin() as session:
        repository = Repositories(session)
        for n in range(3):
            await repository.events.add(job_id, EventType.LOG, f"step {n}")
    return job_id


async def test_events_page_after_an_id(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id = await make_job_with_events(client, sessionmaker)

    everything = (await client.get(f"/api/jobs/{job_id}/events")).json()
    first_id = everything["events"][0]["id"]
    rest = (await client.get(f"/api/jobs/{job_id}/events", params={"after": first_id})).json()
    none = (
        await client.get(f"/api/jobs/{job_id}/events", params={"after": everything["lastEventId"]})
    ).json()

    assert [e["message"] for e in everything["events"]] == [
        "Job queued.",
        "step 0",
        "step 1",
        "step 2",
    ]
    assert everything["events"][0]["type"] == "state"
    assert set(everything["events"][0]) == {
        "id",
        "type",
        "level",
        "message",
        "payload",
        "createdAt",
        "timestamp",
    }
    assert [e["message"] for e in rest["events"]] == ["step 0", "step 1", "step 2"]
    assert none["events"] == [] and none["lastEventId"] == everything["lastEventId"]


async def test_events_bad_after_is_refused(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id = await make_job_with_events(client, sessionmaker)

    response = await client.get(f"/api/jobs/{job_id}/events", params={"after": "last"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("query parameter after:")


async def test_stream_sends_events_then_end_and_resumes(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id = await make_job_with_events(client, sessionmaker)
    await client.post(f"/api/jobs/{job_id}/cancel")  # a final state, so the stream ends

    full = await client.get(f"/api/jobs/{job_id}/stream")
    messages = parse_sse(full.text)
    resume_from = messages[1]["id"]
    resumed = await client.get(f"/api/jobs/{job_id}/stream", headers={"Last-Event-ID": resume_from})

    assert full.status_code == 200
    assert full.headers["content-type"].startswith("text/event-stream")
    assert [m.get("event") for m in messages] == ["state", "log", "log", "log", "state", "end"]
    assert json.loads(messages[-1]["data"]) == {"state": "cancelled"}
    assert [int(m["id"]) for m in messages[:-1]] == sorted(int(m["id"]) for m in messages[:-1])
    assert json.loads(messages[1]["data"])["message"] == "step 0"
    resumed_messages = parse_sse(resumed.text)
    assert [json.loads(m["data"]).get("message") for m in resumed_messages[:-1]] == [
        "step 1",
        "step 2",
        "Job cancelled.",
    ]


async def test_stream_refuses_a_bad_last_event_id(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id = await make_job_with_events(client, sessionmaker)

    response = await client.get(f"/api/jobs/{job_id}/stream", headers={"Last-Event-ID": "abc"})

    assert response.status_code == 400
    assert response.json()["message"] == (
        "Last-Event-ID must be an event id (a whole number up to 4,611,686,018,427,387,904)."
    )
