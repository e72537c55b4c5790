"""Jobs as the API changes them: queue, read, list, cancel, requeue; and retention's deletes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from app.db.models import Artifact, GenerationJob, utcnow
from app.db.repositories.base import Repository
from app.db.repositories.events import EventRepository
from app.db.repositories.webhooks import WebhookRepository
from app.db.statements import (
    AWAITING_REVIEW,
    QUEUED,
    RUNNING,
    enqueue_statement,
    new_job_row,
    prune_statement,
    queued_event,
    request_cancel_statement,
    requeue_statement,
)
from app.domain import PREVIEW_KIND, EventType, JobStatus


class JobRepository(Repository):
    async def enqueue(self, jobs: Sequence[dict[str, Any]]) -> None:
        """Insert queued jobs (rows from `new_job_row`) and their 'queued' events: statements built
        once, no ORM objects (whose unit of work costs more than the round trips), and however
        many jobs, one statement on Postgres and two on SQLite. POST /api/generate's path."""
        if not jobs:
            return
        await self.session.execute(enqueue_statement(self.dialect), list(jobs))
        if not self.dialect.writes_in_ctes:  # otherwise the statement logged them itself
            await EventRepository(self.session).add_rows(queued_event(job) for job in jobs)

    async def create(self, **options: Any) -> GenerationJob:
        """Queue one job (`new_job_row`'s options) and return it as stored: the tests' and the
        benchmarks' way in (the API batches its rows through `enqueue`)."""
        row = new_job_row(**options)
        await self.enqueue([row])
        job = await self.get(row["id"])
        assert job is not None  # inserted just now, in this transaction
        return job

    async def get(self, job_id: str) -> GenerationJob | None:
        return await self.session.get(GenerationJob, job_id, populate_existing=True)

    async def get_by_idempotency_key(self, key: str) -> GenerationJob | None:
        return await self.session.scalar(
            select(GenerationJob).where(GenerationJob.idempotency_key == key)
        )

    async def count_queued(self) -> int:
        """How many jobs are queued, ready or waiting for a retry (the queue cap's count)."""
        count = select(func.count()).select_from(GenerationJob)
        return int(await self.session.scalar(count.where(GenerationJob.status == QUEUED)) or 0)

    async def page(
        self,
        *,
        status: JobStatus | None = None,
        subject_contains: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[Sequence[GenerationJob], int]:
        """A page of jobs, newest first, and how many match in all. `subject_contains`: the
        subject holds this text, in any case (`%` and `_` match themselves)."""
        query = select(GenerationJob)
        count = select(func.count()).select_from(GenerationJob)
        # A scene's preview belongs to the job it previews: not a video of its own.
        conditions = [GenerationJob.kind != PREVIEW_KIND]
        if status is not None:
            conditions.append(GenerationJob.status == status.value)
        if subject_contains:
            subject = GenerationJob.payload["videoSubject"].as_string()
            conditions.append(subject.icontains(subject_contains, autoescape=True))
        query = query.where(*conditions)
        count = count.where(*conditions)
        query = query.order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
        jobs = (await self.session.scalars(query.limit(limit).offset(offset))).all()
        total = await self.session.scalar(count)
        return jobs, int(total or 0)

    async def find_active(self) -> GenerationJob | None:
        """The job `POST /api/cancel` means: the oldest running one, else the newest queued one."""
        videos = GenerationJob.kind != PREVIEW_KIND  # a preview is its reviewer's to stop
        running = await self.session.scalar(
            select(GenerationJob)
            .where(
                GenerationJob.status == RUNNING,
                GenerationJob.cancel_requested.is_(False),
                videos,
            )
            .order_by(GenerationJob.started_at, GenerationJob.id)
            .limit(1)
        )
        if running is not None:
            return running
        return await self.session.scalar(
            select(GenerationJob)
            .where(GenerationJob.status == QUEUED, videos)
            .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
            .limit(1)
        )

    async def request_cancel(self, job_id: str) -> GenerationJob | None:
        """Cancel a queued job at once, or flag a running one for its worker to kill
        (`request_cancel_statement`). Returns the job as it is afterwards, or None when it is
        not active."""
        statement = request_cancel_statement(job_id, now=utcnow())
        job = (await self.session.scalars(statement)).one_or_none()
        if job is None:
            return None
        events = EventRepository(self.session)
        if job.status == JobStatus.CANCELLED:
            await events.add(
                job.id, EventType.STATE, "Job cancelled.", payload={"state": job.status}
            )
            await WebhookRepository(self.session).announce_settled([job.id])
        else:
            await events.add(job.id, EventType.LOG, "Cancellation requested.")
        return job

    async def edit_storyboard(
        self, job_id: str, storyboard: dict[str, Any], payload: dict[str, Any], *, seen: datetime
    ) -> GenerationJob | None:
        """Store a reviewer's edit of the storyboard (and of the settings it changed in the
        job's payload), made on the row as it was at `seen` (its `updated_at`); None when the
        job no longer awaits review, or another edit came first (nothing is overwritten)."""
        edited = await self.session.scalar(
            update(GenerationJob)
            .where(
                GenerationJob.id == job_id,
                GenerationJob.status == AWAITING_REVIEW,
                GenerationJob.updated_at == seen,
            )
            .values(storyboard=storyboard, payload=payload, updated_at=utcnow())
            .returning(GenerationJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if edited is not None:
            await EventRepository(self.session).add(job_id, EventType.LOG, "Storyboard edited.")
        return edited

    async def approve_storyboard(self, job_id: str) -> GenerationJob | None:
        """`POST /api/jobs/{id}/render`: a job awaiting review queued for its render, with
        fresh attempts, its plan's files forgotten; None when it does not await review."""
        job = await self.get(job_id)
        if job is None or job.status != AWAITING_REVIEW or job.storyboard is None:
            return None
        now = utcnow()
        queued = await self.session.scalar(
            update(GenerationJob)
            .where(
                GenerationJob.id == job_id,
                GenerationJob.status == AWAITING_REVIEW,
                GenerationJob.updated_at == job.updated_at,  # the storyboard read above
            )
            .values(
                status=QUEUED, storyboard={**job.storyboard, "approved": True}, attempt_count=0,
                run_at=now, stage=None, progress=0.0, error_message=None, updated_at=now,
                cancel_requested=False,
            )
            .returning(GenerationJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )  # fmt: skip
        if queued is not None:
            # The plan's files (its voice) are made again by the render, in the same place.
            await self.session.execute(delete(Artifact).where(Artifact.job_id == job_id))
            await EventRepository(self.session).add(
                job_id, EventType.STATE, "Storyboard approved: the job is queued for its render.",
                payload={"state": QUEUED},
            )  # fmt: skip
        return queued

    async def reopen_review(
        self, job_id: str, *, only_unapproved: bool = False
    ) -> GenerationJob | None:
        """A failed or cancelled job that has a storyboard back in `awaiting_review`, its
        storyboard open to edits again (`only_unapproved`: only one whose render was never
        asked for); None when the job is not such a job."""
        job = await self.get(job_id)
        ended = (JobStatus.FAILED.value, JobStatus.CANCELLED.value)
        if job is None or job.status not in ended or job.storyboard is None:
            return None
        if only_unapproved and job.storyboard.get("approved"):
            return None
        now = utcnow()
        reopened = await self.session.scalar(
            update(GenerationJob)
            .where(GenerationJob.id == job_id, GenerationJob.updated_at == job.updated_at)
            .values(
                status=AWAITING_REVIEW, storyboard={**job.storyboard, "approved": False},
                cancel_requested=False, attempt_count=0, completed_at=None, error_message=None,
                result_path=None, stage="review", updated_at=now,
            )
            .returning(GenerationJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )  # fmt: skip
        if reopened is not None:
            await EventRepository(self.session).add(
                job_id, EventType.STATE, "The storyboard awaits review again.",
                payload={"state": AWAITING_REVIEW},
            )  # fmt: skip
        return reopened

    async def requeue(self, job_id: str) -> GenerationJob | None:
        """`POST /api/jobs/{id}/retry`: a failed or cancelled job queued again with fresh
        attempts; one stopped in review (its render never asked for) goes back to review with
        its storyboard, edits and all. None when the job is not failed or cancelled."""
        reopened = await self.reopen_review(job_id, only_unapproved=True)
        if reopened is not None:
            return reopened
        statement = requeue_statement(job_id, now=utcnow())
        job = (await self.session.scalars(statement)).one_or_none()
        if job is not None:
            await EventRepository(self.session).add(
                job.id, EventType.RETRY, "Job requeued by request.", payload={"state": QUEUED}
            )
        return job

    async def prune_finished(self, *, before: datetime, limit: int) -> list[str]:
        """Delete up to `limit` finished jobs that ended before `before`, with their events and
        artifacts (`prune_statement`), and return their ids."""
        if limit <= 0:
            return []
        statement = prune_statement(self.dialect, before=before, limit=limit)
        return list((await self.session.scalars(statement)).all())

    async def existing_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of `job_ids` are jobs in the table (retention's check for orphan folders)."""
        if not job_ids:
            return set()
        found = await self.session.scalars(
            select(GenerationJob.id).where(GenerationJob.id.in_(job_ids))
        )
        return set(found.all())
