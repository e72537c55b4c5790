"""Jobs: queue one, read one, list them, cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import JobIdDep, JobsDep, PublicationsDep, SettingsDep, songs_of
from app.api.queue_cap import QueueCap
from app.api.routes import ERRORS, NOT_FOUND
from app.db.enqueuer import Enqueuer
from app.db.models import Publication
from app.db.repositories import JobRepository, ProjectRepository
from app.db.statements import new_job_row
from app.domain import PUBLISH_KIND, JobStatus, script_too_long
from app.errors import BadRequest, JobNotFound, JobNotRetryable, NoActiveJob
from app.schemas import (
    CancelResponse,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    JobPage,
    JobRead,
    JobResponse,
    PublicationRead,
    RetryResponse,
)
from app.settings import Settings

router = APIRouter(prefix="/api", tags=["jobs"])

QUEUE_FULL: dict[int | str, dict[str, object]] = {
    429: {
        "model": ErrorResponse,
        "description": "The queue is full (MONEYPRINTER_MAX_QUEUED_JOBS); `Retry-After` says "
        "when to try again",
    }
}


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={**ERRORS, **QUEUE_FULL},
    summary="Queue a video",
)
async def generate(
    body: GenerateRequest,
    request: Request,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> GenerateResponse:
    """Queue a job and answer once it is stored; follow it with `/api/jobs/{id}/events` or
    `/stream`.

    With an `Idempotency-Key` header, a repeated request returns the job the first one queued.
    While the queue is full the answer is 429, with `Retry-After`."""
    # The busiest route, so it takes few dependencies (FastAPI's resolving one costs more than this
    # route's own work): no request-wide session, as the job is stored in the enqueuer's
    # transaction, shared with the jobs queued at the same moment; the checks read in short
    # sessions of their own, and only when asked for.
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    enqueuer: Enqueuer = request.app.state.enqueuer
    queue_cap: QueueCap = request.app.state.queue_cap
    if idempotency_key:
        existing = await _job_with_key(maker, idempotency_key)
        if existing is not None:
            return GenerateResponse(job_id=existing)
    check_script(body, settings=settings)
    await queue_cap.check()
    await check_references(body, maker=maker, settings=settings)
    job = new_job_row(
        payload=body.payload(),
        priority=body.priority,
        max_attempts=body.max_attempts or settings.max_attempts,
        project_id=body.project_id,
        idempotency_key=idempotency_key or None,
    )
    try:
        job_id = await enqueuer.enqueue(job)
    except IntegrityError:
        if not idempotency_key:
            raise
        # Another request with the same key won the race between our read and our insert.
        existing = await _job_with_key(maker, idempotency_key)
        if existing is None:
            raise
        return GenerateResponse(job_id=existing)
    queue_cap.added()
    # Committed already (in the enqueuer's transaction): the workers can be woken now.
    await request.app.state.wake_workers()
    return GenerateResponse(job_id=job_id)


async def _job_with_key(
    maker: async_sessionmaker[AsyncSession], idempotency_key: str
) -> str | None:
    async with maker() as session:
        job = await JobRepository(session).get_by_idempotency_key(idempotency_key)
        return job.id if job is not None else None


def check_script(body: GenerateRequest, *, settings: Settings) -> None:
    """400 for a script longer than the server takes, or a publish schedule it cannot keep."""
    problem = script_too_long(body.script or "", max_words=settings.max_script_words)
    if problem is not None:
        raise BadRequest(problem)
    if body.publish is not None and (problem := body.publish.schedule_problem()):
        raise BadRequest(f"publish.{problem}")


async def check_song(song: str | None, *, settings: Settings) -> None:
    """400 for a song that is not in the library."""
    if song and not await asyncio.to_thread(songs_of(settings).exists, song):
        raise BadRequest(f"song: no uploaded song is named {song!r}.")


async def check_references(
    body: GenerateRequest, *, maker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """400 for a song or a project that does not exist."""
    await check_song(body.song, settings=settings)
    if body.project_id is not None:
        async with maker() as session:
            exists = await ProjectRepository(session).exists(body.project_id)
        if not exists:
            raise BadRequest(f"projectId: no project has id {body.project_id}.")


@router.get("/jobs", response_model=JobPage, responses={**ERRORS}, summary="List jobs")
async def list_jobs(
    jobs: JobsDep,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="only jobs whose subject contains this, in any case"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    """Jobs, newest first."""
    if q and "\x00" in q:
        # Postgres refuses NUL in text (a 500) and SQLite's LIKE stops at it (matching every job);
        # no subject holds one (VideoSpec refuses them).
        raise BadRequest("query parameter q: must not contain NUL characters")
    page, total = await jobs.page(status=status, subject_contains=q, limit=limit, offset=offset)
    return JobPage(
        jobs=[JobRead.model_validate(job) for job in page], total=total, limit=limit, offset=offset
    )


@router.get(
    "/jobs/{job_id}", response_model=JobResponse, responses={**ERRORS, **NOT_FOUND}, summary="A job"
)
async def get_job(job_id: JobIdDep, jobs: JobsDep, publications: PublicationsDep) -> JobResponse:
    """The job, and its uploads to YouTube: a video job's publications, a publish job's own."""
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    # Only a publish job, or a video job that completed, has any: the jobs clients poll while
    # they run cost no second query.
    uploads: list[Publication] = []
    if job.kind == PUBLISH_KIND:
        own = await publications.get(job.id)
        uploads = [own] if own is not None else []
    elif job.status == JobStatus.COMPLETED:
        uploads = list(await publications.for_video(job.id))
    return JobResponse(
        job=JobRead.model_validate(job),
        publications=[PublicationRead.model_validate(upload) for upload in uploads],
    )


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=CancelResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Cancel a job",
)
async def cancel_job(job_id: JobIdDep, jobs: JobsDep) -> CancelResponse:
    """A queued job is cancelled at once; a running one is stopped by its worker within about a
    second (its state stays `running` with `cancelRequested` until then). A job that has already
    ended stays as it is: the answer says so, with its state (200, as the original answered)."""
    return await _cancel(job_id, jobs)


@router.post(
    "/cancel",
    response_model=CancelResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Cancel the active job",
)
async def cancel_active(jobs: JobsDep) -> CancelResponse:
    """Cancel the active job, as the original's single-job page did: the running one first, else
    the newest queued one."""
    job = await jobs.find_active()
    if job is None:
        raise NoActiveJob()
    return await _cancel(job.id, jobs)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=RetryResponse,
    responses={
        **ERRORS,
        **NOT_FOUND,
        **QUEUE_FULL,
        409: ERRORS[400] | {"description": "Not ended"},
    },
    summary="Retry a failed or cancelled job",
)
async def retry_job(
    job_id: JobIdDep, jobs: JobsDep, request: Request, background: BackgroundTasks
) -> RetryResponse:
    """Queue a failed (dead-lettered) or cancelled job again, with its attempts reset; 429 with
    `Retry-After` while the queue is full. A job cancelled while it awaited review goes back to
    review, its storyboard as it was."""
    queue_cap: QueueCap = request.app.state.queue_cap
    await queue_cap.check()
    job = await jobs.requeue(job_id)
    if job is None:
        existing = await jobs.get(job_id)
        if existing is None:
            raise JobNotFound()
        raise JobNotRetryable(existing.status)
    if job.status == JobStatus.AWAITING_REVIEW:  # stopped in review: back to it, not queued
        return RetryResponse(
            message="The storyboard awaits review again.", job_id=job.id, state=job.status
        )
    queue_cap.added()
    # Background tasks run after the response, so after the request's commit.
    background.add_task(request.app.state.wake_workers)
    return RetryResponse(job_id=job.id, state=job.status)


async def _cancel(job_id: str, jobs: JobRepository) -> CancelResponse:
    job = await jobs.request_cancel(job_id)
    if job is not None:
        return CancelResponse(job_id=job.id, state=job.status)
    ended = await jobs.get(job_id)
    if ended is None:
        raise JobNotFound()
    return CancelResponse(
        message=f"Job already {ended.status}; nothing to cancel.",
        job_id=ended.id,
        state=ended.status,
    )
