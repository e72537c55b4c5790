"""A job's events: a page after an id, or a server-sent event stream that resumes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from app.api.deps import EventsDep, JobIdDep, JobsDep, SessionmakerDep, SettingsDep
from app.api.routes import ERRORS, NOT_FOUND
from app.db.repositories import EventRepository, JobRepository
from app.domain import JobStatus
from app.errors import BadRequest, JobNotFound
from app.schemas import EventList, EventRead

router = APIRouter(prefix="/api/jobs", tags=["events"])

KEEPALIVE_S = 15.0
PAGE_LIMIT = 500


@router.get(
    "/{job_id}/events",
    response_model=EventList,
    responses={**ERRORS, **NOT_FOUND},
    summary="A job's events after an id",
)
async def list_events(
    job_id: JobIdDep,
    jobs: JobsDep,
    events: EventsDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="last event id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = PAGE_LIMIT,
) -> EventList:
    """Events with `id > after`, oldest first. Poll with the returned `lastEventId`."""
    if await jobs.get(job_id) is None:
        raise JobNotFound()
    page = await events.list_after(job_id, after=after, limit=limit)
    last = page[-1].id if page else after
    return EventList(events=[EventRead.model_validate(event) for event in page], last_event_id=last)


@router.get(
    "/{job_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **ERRORS,
        **NOT_FOUND,
    },
    summary="Follow a job (server-sent events)",
)
async def stream_events(
    job_id: JobIdDep,
    request: Request,
    maker: SessionmakerDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="last event id seen")] = 0,
    last_event_id: Annotated[str | None, Header(description="resume after this event")] = None,
) -> StreamingResponse:
    """Each event as `id:`, `event:` (its type) and `data:` (the event as JSON). After the job's
    final event the stream sends `event: end` and closes. A reconnecting browser sends
    `Last-Event-ID` and gets only what it missed."""
    start = after
    if last_event_id:
        if not last_event_id.strip().isdigit():
            raise BadRequest("Last-Event-ID must be an event id (a whole number).")
        start = int(last_event_id.strip())
    async with maker() as session:
        if await JobRepository(session).get(job_id) is None:
            raise JobNotFound()
    return StreamingResponse(
        _event_stream(job_id, request, maker, after=start, poll_s=settings.stream_poll_interval_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    job_id: str, request: Request, maker: SessionmakerDep, *, after: int, poll_s: float
) -> AsyncIterator[str]:
    last_id = after
    last_sent = time.monotonic()
    while not await request.is_disconnected():
        # A short session per poll: a stream can last minutes and must not hold a connection.
        async with maker() as session:
            # The state first, then the events: the final state and its event commit together,
            # so once the state reads final, the events read next include its event.
            job = await JobRepository(session).get(job_id)
            events = await EventRepository(session).list_after(
                job_id, after=last_id, limit=PAGE_LIMIT
            )
        for event in events:
            data = EventRead.model_validate(event).model_dump_json(by_alias=True)
            yield f"id: {event.id}\nevent: {event.event_type}\ndata: {data}\n\n"
            last_id = event.id
            last_sent = time.monotonic()
        if job is None or (JobStatus(job.status).is_terminal and len(events) < PAGE_LIMIT):
            state = job.status if job is not None else "deleted"
            yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
            return
        if time.monotonic() - last_sent > KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        if not events:
            await asyncio.sleep(poll_s)
