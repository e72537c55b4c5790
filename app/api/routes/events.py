"""A job's events: a page after an id, or a server-sent event stream that resumes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from app.api.deps import EventsDep, FollowersDep, JobIdDep, JobsDep
from app.api.followers import PAGE_LIMIT
from app.api.routes import ERRORS, NOT_FOUND
from app.errors import BadRequest, JobNotFound
from app.schemas import EventList, EventRead

router = APIRouter(prefix="/api/jobs", tags=["events"])

# Event ids are 64-bit integers in the database; anything above cannot name an event.
MAX_EVENT_ID = 2**62


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
    after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID, description="last event id seen")] = 0,
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
        503: {"description": "Too many streams open; Retry-After says when to try again"},
    },
    summary="Follow a job (server-sent events)",
)
async def stream_events(
    job_id: JobIdDep,
    jobs: JobsDep,
    followers: FollowersDep,
    after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID, description="last event id seen")] = 0,
    last_event_id: Annotated[str | None, Header(description="resume after this event")] = None,
) -> StreamingResponse:
    """Each event as `id:`, `event:` (its type) and `data:` (the event as JSON). After the job's
    final event (or the one that says it awaits review) the stream sends `event: end` and
    closes. A reconnecting browser sends `Last-Event-ID` and gets only what it missed. The streams
    a server holds open are capped: past the cap, 503 with `Retry-After`."""
    start = after if last_event_id is None else parse_last_event_id(last_event_id)
    followers.check_capacity()
    if await jobs.get(job_id) is None:
        raise JobNotFound()
    return StreamingResponse(
        followers.stream(job_id, after=start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def parse_last_event_id(header: str) -> int:
    """The event id a reconnecting client sends; BadRequest unless a whole number in range."""
    value = header.strip()
    if not value:
        return 0
    # The length first: int() of thousands of digits is slow, and refused past 4,300.
    digits = len(value) <= len(str(MAX_EVENT_ID)) and value.isascii() and value.isdigit()
    if not digits or int(value) > MAX_EVENT_ID:
        raise BadRequest(
            f"Last-Event-ID must be an event id (a whole number up to {MAX_EVENT_ID:,})."
        )
    return int(value)
