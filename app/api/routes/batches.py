"""Batches: many videos queued at once with shared options, followed, cancelled and retried
together."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import BatchIdDep, SessionDep, SessionmakerDep, SettingsDep
from app.api.queue_cap import QueueCap
from app.api.routes import ERRORS, NOT_FOUND
from app.api.routes.jobs import QUEUE_FULL, check_references, check_script
from app.api.validation import describe_validation_error
from app.db.models import Batch, GenerationJob, utcnow
from app.db.repositories import BatchRepository, JobRepository
from app.db.repositories.batches import BatchFigures
from app.db.statements import new_job_row
from app.domain import JobStatus
from app.errors import BadRequest, BatchNotFound
from app.schemas import (
    BatchActionResponse,
    BatchCreated,
    BatchJobRead,
    BatchPage,
    BatchRead,
    BatchRequest,
    BatchResponse,
    GenerateRequest,
)

router = APIRouter(prefix="/api", tags=["batches"])
# Queue settings belong to the batch: an entry giving its own would be silently overruled.
BATCH_ONLY = ("priority", "maxAttempts", "max_attempts")
RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED)
# What a batch cancel stops: a job waiting for its review too.
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.AWAITING_REVIEW)
ALIASES = {
    name: info.alias or field
    for field, info in GenerateRequest.model_fields.items()
    for name in (field, info.alias or field)
}
ENTRY_FIELDS = frozenset(ALIASES)


@router.post(
    "/batches",
    response_model=BatchCreated,
    responses={**ERRORS, **QUEUE_FULL},
    summary="Queue a batch of videos",
)
async def create_batch(
    body: BatchRequest,
    request: Request,
    settings: SettingsDep,
    maker: SessionmakerDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> BatchCreated:
    """One job per entry of `jobs`, each the shared `options` with the entry's fields over them,
    all queued in one transaction or none (a bad entry is a 400 naming it and its field). At
    most MONEYPRINTER_MAX_BATCH_JOBS entries; 429 when they would take the queue past its cap.
    The jobs run at the batch's `priority`, -1 unless it says: a video queued alone (0) runs
    before the rest of a batch queued earlier. With an `Idempotency-Key` header, a repeated
    request returns the batch the first one queued."""
    if idempotency_key:
        existing = await _batch_with_key(maker, idempotency_key)
        if existing is not None:
            return existing
    if len(body.jobs) > settings.max_batch_jobs:
        raise BadRequest(
            f"jobs: {len(body.jobs)} entries, more than the {settings.max_batch_jobs} a batch "
            "may hold (MONEYPRINTER_MAX_BATCH_JOBS)."
        )
    if settings.max_queued_jobs and len(body.jobs) > settings.max_queued_jobs:
        raise BadRequest(
            f"jobs: {len(body.jobs)} entries, more than the queue ever holds "
            f"(MONEYPRINTER_MAX_QUEUED_JOBS={settings.max_queued_jobs}): split the batch."
        )
    requests = [_entry(body.options, entry, index) for index, entry in enumerate(body.jobs)]
    checked: set[tuple[str | None, int | None]] = set()  # a song or project is looked up once
    for index, entry in enumerate(requests):
        try:
            check_script(entry, settings=settings)
            if (entry.song, entry.project_id) not in checked:
                await check_references(entry, maker=maker, settings=settings)
                checked.add((entry.song, entry.project_id))
        except BadRequest as exc:
            raise BadRequest(f"jobs[{index}].{exc.message}") from None
    queue_cap: QueueCap = request.app.state.queue_cap
    await queue_cap.check(len(requests))
    batch_id, now = str(uuid.uuid4()), utcnow()
    attempts = body.max_attempts or settings.max_attempts
    rows = [
        new_job_row(
            payload=entry.payload(),
            priority=body.priority,
            project_id=entry.project_id,
            max_attempts=attempts,
            batch_id=batch_id,
        )
        for entry in requests
    ]
    for index, row in enumerate(rows):  # their order is the batch's
        row["created_at"] = row["run_at"] = row["updated_at"] = now + timedelta(microseconds=index)
    try:
        async with maker.begin() as session:
            await BatchRepository(session).create(
                batch_id=batch_id, title=body.title, priority=body.priority, jobs=rows,
                idempotency_key=idempotency_key or None,
            )  # fmt: skip
    except IntegrityError:
        # Another request with the same key won the race between our read and our insert.
        existing = await _batch_with_key(maker, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing
    queue_cap.added(len(rows))
    await request.app.state.wake_workers()
    return BatchCreated(batch_id=batch_id, job_ids=[row["id"] for row in rows])


async def _batch_with_key(maker: async_sessionmaker[AsyncSession], key: str) -> BatchCreated | None:
    async with maker() as session:
        batches = BatchRepository(session)
        batch = await batches.get_by_idempotency_key(key)
        if batch is None:
            return None
        return BatchCreated(batch_id=batch.id, job_ids=await batches.job_ids(batch.id))


def _entry(options: dict[str, Any], entry: dict[str, Any], index: int) -> GenerateRequest:
    """The request of entry `index`: 400 for a field /api/generate does not know (a batch's
    entries are typed by hand or in a spreadsheet: a misspelt column must not vanish)."""
    for source, fields in (("options", options), (f"jobs[{index}]", entry)):
        for name in fields:
            if name in BATCH_ONLY:
                raise BadRequest(f"{source}.{name}: set it for the whole batch, beside `jobs`.")
            if name not in ENTRY_FIELDS:
                raise BadRequest(f"{source}.{name}: not a field of a video (see /api/generate).")
    shared, own = _by_alias(options), _by_alias(entry)
    try:
        return GenerateRequest.model_validate(shared | own)
    except ValidationError as exc:
        errors = exc.errors()
        message = describe_validation_error(
            [{**error, "loc": ("body", *error["loc"])} for error in errors], path=""
        )
        field = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else ""
        source = "options" if field in shared and field not in own else f"jobs[{index}]"
        raise BadRequest(f"{source}.{message}") from None


def _by_alias(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields under their wire names (`video_subject` → `videoSubject`), so that an entry's
    field wins over the shared one however either is spelt."""
    return {ALIASES.get(name, name): value for name, value in fields.items()}


@router.get("/batches", response_model=BatchPage, responses={**ERRORS}, summary="List batches")
async def list_batches(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> BatchPage:
    """Batches, newest first, each with its jobs' counts by state and its progress."""
    batches = BatchRepository(session)
    page, total = await batches.page(limit=limit, offset=offset)
    figures = await batches.figures([batch.id for batch in page])
    return BatchPage(
        batches=[_read(batch, figures[batch.id]) for batch in page],
        total=total, limit=limit, offset=offset,
    )  # fmt: skip


@router.get(
    "/batches/{batch_id}",
    response_model=BatchResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="A batch and its jobs",
)
async def get_batch(batch_id: BatchIdDep, session: SessionDep) -> BatchResponse:
    batches = BatchRepository(session)
    batch = await batches.get(batch_id)
    if batch is None:
        raise BatchNotFound()
    figures = (await batches.figures([batch_id]))[batch_id]
    jobs = await batches.jobs(batch_id)
    return BatchResponse(
        batch=_read(batch, figures), jobs=[BatchJobRead.model_validate(job) for job in jobs]
    )


@router.post(
    "/batches/{batch_id}/cancel",
    response_model=BatchActionResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Cancel a batch's unfinished jobs",
)
async def cancel_batch(batch_id: BatchIdDep, session: SessionDep) -> BatchActionResponse:
    """Its queued jobs are cancelled at once, its running ones stopped by their workers; the
    finished ones stay as they are."""
    jobs = JobRepository(session)
    active = [job.id for job in await _jobs_of(batch_id, session) if job.status in ACTIVE]
    changed = [job_id for job_id in active if await jobs.request_cancel(job_id) is not None]
    return BatchActionResponse(
        message=f"Cancelling {len(changed)} job(s).", batch_id=batch_id, job_ids=changed
    )


@router.post(
    "/batches/{batch_id}/retry",
    response_model=BatchActionResponse,
    responses={**ERRORS, **NOT_FOUND, **QUEUE_FULL},
    summary="Retry a batch's failed and cancelled jobs",
)
async def retry_batch(
    batch_id: BatchIdDep, maker: SessionmakerDep, request: Request
) -> BatchActionResponse:
    """Its failed and cancelled jobs are queued again with fresh attempts (each resumes at the
    stage it stopped at); 429 while they would take the queue past its cap."""
    # Sessions of its own, one after the other: the cap's count takes a connection too, and
    # SQLite's pool has only one.
    async with maker() as session:
        ended = [job.id for job in await _jobs_of(batch_id, session) if job.status in RETRYABLE]
    queue_cap: QueueCap = request.app.state.queue_cap
    if ended:
        await queue_cap.check(len(ended))
    async with maker.begin() as session:
        jobs = JobRepository(session)
        changed = [job_id for job_id in ended if await jobs.requeue(job_id) is not None]
    queue_cap.added(len(changed))
    await request.app.state.wake_workers()
    return BatchActionResponse(
        message=f"Requeued {len(changed)} job(s).", batch_id=batch_id, job_ids=changed
    )


async def _jobs_of(batch_id: str, session: AsyncSession) -> list[GenerationJob]:
    batches = BatchRepository(session)
    if await batches.get(batch_id) is None:
        raise BatchNotFound()
    return list(await batches.jobs(batch_id))


def _read(batch: Batch, figures: BatchFigures) -> BatchRead:
    return BatchRead(
        id=batch.id, title=batch.title, total=batch.total, priority=batch.priority,
        created_at=batch.created_at, state=figures.state, progress=round(figures.progress, 4),
        counts=figures.counts,
    )  # fmt: skip
