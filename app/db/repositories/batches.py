"""Batches: jobs queued together, read with their jobs' states; retention's deletes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, exists, func, select

from app.db.models import Batch, GenerationJob
from app.db.repositories.base import Repository, rowcount
from app.db.repositories.jobs import JobRepository
from app.db.statements import AWAITING_REVIEW, QUEUED, RUNNING
from app.domain import JobStatus

ACTIVE_STATUSES = (QUEUED, RUNNING)
# Not done yet: a job awaiting review counts by its progress, as a running one does.
UNFINISHED_STATUSES = (QUEUED, RUNNING, AWAITING_REVIEW)
# A batch's jobs are stored a microsecond apart, in the order they were given.
GIVEN_ORDER = (GenerationJob.created_at, GenerationJob.id)


@dataclass(frozen=True)
class BatchFigures:
    """How a batch's jobs stand: how many in each state, and the share of the work done (a
    finished job counts whole, a running one by its progress)."""

    counts: dict[str, int] = field(default_factory=dict)
    progress: float = 0.0

    @property
    def state(self) -> str:
        """`running` while a job is queued or running; then `awaiting_review` while a job waits
        for a person; then `completed` when every job did, `failed` when any failed, else
        `cancelled`."""
        if any(self.counts.get(status, 0) for status in ACTIVE_STATUSES):
            return "running"
        if self.counts.get(AWAITING_REVIEW, 0):
            return AWAITING_REVIEW
        if self.counts.get(JobStatus.FAILED, 0):
            return "failed"
        if self.counts.get(JobStatus.CANCELLED, 0):
            return "cancelled"
        return "completed"


class BatchRepository(Repository):
    async def create(
        self, *, batch_id: str, title: str, priority: int, jobs: Sequence[dict[str, Any]],
        idempotency_key: str | None = None,
    ) -> Batch:  # fmt: skip
        """Store the batch and queue its jobs (rows from `new_job_row` with its `batch_id`)."""
        batch = Batch(
            id=batch_id, title=title, total=len(jobs), priority=priority,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        self.session.add(batch)
        await self.session.flush()
        await JobRepository(self.session).enqueue(jobs)
        return batch

    async def get(self, batch_id: str) -> Batch | None:
        return await self.session.get(Batch, batch_id, populate_existing=True)

    async def get_by_idempotency_key(self, key: str) -> Batch | None:
        return await self.session.scalar(select(Batch).where(Batch.idempotency_key == key))

    async def job_ids(self, batch_id: str) -> list[str]:
        """The batch's job ids in the order they were given."""
        query = select(GenerationJob.id).where(GenerationJob.batch_id == batch_id)
        return list((await self.session.scalars(query.order_by(*GIVEN_ORDER))).all())

    async def jobs(self, batch_id: str) -> Sequence[GenerationJob]:
        """The batch's jobs in the order they were given."""
        query = select(GenerationJob).where(GenerationJob.batch_id == batch_id)
        return (await self.session.scalars(query.order_by(*GIVEN_ORDER))).all()

    async def page(self, *, limit: int, offset: int) -> tuple[Sequence[Batch], int]:
        """A page of batches, newest first, and how many there are."""
        query = select(Batch).order_by(Batch.created_at.desc(), Batch.id.desc())
        batches = (await self.session.scalars(query.limit(limit).offset(offset))).all()
        total = await self.session.scalar(select(func.count()).select_from(Batch))
        return batches, int(total or 0)

    async def figures(self, batch_ids: Sequence[str]) -> dict[str, BatchFigures]:
        """Each batch's figures, in one grouped read of its jobs."""
        done = func.sum(
            case((GenerationJob.status.in_(UNFINISHED_STATUSES), GenerationJob.progress), else_=1.0)
        )
        rows = await self.session.execute(
            select(GenerationJob.batch_id, GenerationJob.status, func.count(), done)
            .where(GenerationJob.batch_id.in_(batch_ids))
            .group_by(GenerationJob.batch_id, GenerationJob.status)
        )
        counts: dict[str, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
        work: dict[str, float] = dict.fromkeys(batch_ids, 0.0)
        for batch_id, status, count, progress in rows:
            counts[batch_id][status] = int(count)
            work[batch_id] += float(progress or 0.0)
        return {
            batch_id: BatchFigures(
                counts[batch_id], work[batch_id] / max(1, sum(counts[batch_id].values()))
            )
            for batch_id in batch_ids
        }

    async def prune_empty(self, *, before: datetime) -> int:
        """Delete the batches created before `before` whose jobs are all gone (retention)."""
        orphan = ~exists().where(GenerationJob.batch_id == Batch.id)
        result = await self.session.execute(delete(Batch).where(Batch.created_at < before, orphan))
        return rowcount(result)
