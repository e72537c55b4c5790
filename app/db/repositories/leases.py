"""The worker's side of a job: claim it, hold its lease, and end it.

Every change after the claim is fenced by the claim's lease token: an update that matches no row
(the lease was lost to the reaper) changes nothing, and its caller discards its result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.db.models import GenerationJob, utcnow
from app.db.repositories.base import Repository, rowcount
from app.db.repositories.events import EventRepository
from app.db.repositories.webhooks import WebhookRepository
from app.db.statements import (
    LEASE_EXPIRED_MESSAGE,
    QUEUED,
    UNLEASED,
    claim_params,
    claim_statement,
    completed_event,
    completion_statement,
    fenced_update,
    reap_statement,
    renew_leases_statement,
    started_event,
)
from app.domain import EventLevel, EventType, JobStatus


class LeaseRepository(Repository):
    @property
    def events(self) -> EventRepository:
        return EventRepository(self.session)

    @property
    def webhooks(self) -> WebhookRepository:
        return WebhookRepository(self.session)

    async def claim(self, *, worker_id: str, limit: int, lease_s: float) -> list[GenerationJob]:
        """Claim up to `limit` ready jobs, highest priority first, and log each claim. One
        statement on Postgres (the worker sends it without BEGIN and COMMIT)."""
        if limit <= 0:
            return []
        now = utcnow()
        params = claim_params(worker_id=worker_id, limit=limit, now=now, lease_s=lease_s)
        jobs = list((await self.session.scalars(claim_statement(self.dialect), params)).all())
        # RETURNING gives no order; hand them out in queue order.
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        if not self.dialect.writes_in_ctes:  # otherwise the claim logged them itself
            await self.events.add_rows(
                started_event(job, worker_id=worker_id, now=now) for job in jobs
            )
        return jobs

    async def cancel_requested_ids(self, job_ids: Sequence[str]) -> set[str]:
        if not job_ids:
            return set()
        found = await self.session.scalars(
            select(GenerationJob.id).where(
                GenerationJob.id.in_(job_ids), GenerationJob.cancel_requested.is_(True)
            )
        )
        return set(found.all())

    async def renew(self, *, worker_id: str, leases: Mapping[str, str], lease_s: float) -> set[str]:
        """Extend the lease of every job this worker still holds, in one statement.

        Returns the ids whose lease was renewed; a job missing from it was lost (reaped, or
        finished by someone else) and its result must be discarded.
        """
        if not leases:
            return set()
        statement = renew_leases_statement(
            worker_id=worker_id, leases=leases, lease_s=lease_s, now=utcnow()
        )
        return set((await self.session.scalars(statement)).all())

    async def record_progress(
        self, job_id: str, token: str, *, stage: str | None, progress: float
    ) -> bool:
        result = await self.session.execute(
            fenced_update(job_id, token).values(
                stage=stage, progress=min(max(progress, 0.0), 1.0), updated_at=utcnow()
            )
        )
        return rowcount(result) == 1

    async def mark_completed(self, job_id: str, token: str, *, result_path: str | None) -> bool:
        return await self._finish(
            job_id,
            token,
            JobStatus.COMPLETED,
            "Job completed.",
            result_path=result_path,
            progress=1.0,
        )

    async def complete_many(self, leases: Mapping[str, str]) -> dict[str, str]:
        """Complete many running jobs that made no files (in-loop kinds) at once: one UPDATE
        fenced by each job's own lease token, and one 'completed' event per job (in the same
        statement on Postgres).

        Returns each job's end: "completed"; "cancelled" when its cancel was asked before this
        transaction (such a job never completes); "lost" when the lease was.
        """
        if not leases:
            return {}
        now = utcnow()
        params = {"leases": list(leases.items()), "now": now}
        statement = completion_statement(self.dialect)
        completed = set((await self.session.scalars(statement, params)).all())
        if not self.dialect.writes_in_ctes:  # otherwise the statement logged them itself
            await self.events.add_rows(
                completed_event(job_id, now=now) for job_id in leases if job_id in completed
            )
        await self.webhooks.announce_settled(sorted(completed))
        ends = dict.fromkeys(completed, "completed")
        missed = [job_id for job_id in leases if job_id not in completed]
        cancelled = await self.cancel_requested_ids(missed)
        for job_id in missed:
            late_cancel = job_id in cancelled and await self.mark_cancelled(job_id, leases[job_id])
            ends[job_id] = "cancelled" if late_cancel else "lost"
        return ends

    async def mark_failed(
        self, job_id: str, token: str, *, error: str, details: dict[str, Any] | None = None
    ) -> bool:
        """Fail the job; `details` (e.g. `retryable`, `stage`) go into the failure event payload."""
        return await self._finish(
            job_id,
            token,
            JobStatus.FAILED,
            f"Job failed: {error}",
            level=EventLevel.ERROR,
            event_payload=details,
            error_message=error,
        )

    async def await_review(self, job_id: str, token: str, *, storyboard: dict[str, Any]) -> bool:
        """The planning stages are done: the job, no longer leased, waits with its storyboard
        for a person (`POST /api/jobs/{id}/render`, or a cancel). False, and nothing written,
        when the lease was lost or a cancel was asked (in the same statement, so a cancel that
        comes in meanwhile is never left behind on a job in review)."""
        state = JobStatus.AWAITING_REVIEW.value
        result = await self.session.execute(
            fenced_update(job_id, token)
            .where(GenerationJob.cancel_requested.is_(False))
            .values(
                **UNLEASED, status=state, storyboard=storyboard, stage="review",
                updated_at=utcnow(),
            )
        )  # fmt: skip
        if rowcount(result) != 1:
            return False
        scenes = len(storyboard.get("scenes", ()))
        await self.events.add(
            job_id, EventType.STATE,
            f"The storyboard is ready ({scenes} scenes): the job awaits review.",
            payload={"state": state, "scenes": scenes},
        )  # fmt: skip
        await self.webhooks.announce_settled([job_id])
        return True

    async def mark_cancelled(self, job_id: str, token: str) -> bool:
        return await self._finish(job_id, token, JobStatus.CANCELLED, "Job cancelled.")

    async def schedule_retry(
        self,
        job_id: str,
        token: str,
        *,
        attempt: int,
        error: str,
        delay_s: float,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Put a failed attempt back in the queue, not before `delay_s` from now (fenced)."""
        run_at = utcnow() + timedelta(seconds=delay_s)
        return await self._transition(
            job_id,
            token,
            {**UNLEASED, "status": QUEUED, "run_at": run_at, "error_message": error},
            EventType.RETRY,
            f"Attempt {attempt} failed: {error} Retrying in {delay_s:.0f} s.",
            level=EventLevel.WARNING,
            payload={
                **(details or {}),
                "attempt": attempt,
                "error": error,
                "runAt": run_at.isoformat(),
                "state": QUEUED,
            },
        )

    async def release(self, job_id: str, token: str, *, reason: str) -> bool:
        """Put a running job back in the queue without spending an attempt (worker shutdown)."""
        values = {
            **UNLEASED,
            "status": QUEUED,
            "attempt_count": GenerationJob.attempt_count - 1,
            "stage": None,
            "progress": 0.0,
            "run_at": utcnow(),
        }
        return await self._transition(
            job_id,
            token,
            values,
            EventType.STATE,
            f"Job released to the queue: {reason}",
            payload={"state": QUEUED},
        )

    async def defer(self, job_id: str, token: str, *, until: datetime, reason: str) -> bool:
        """Put a running job back in the queue until `until`, without spending an attempt (it
        waits for something outside, such as a quota's reset)."""
        values = {
            **UNLEASED,
            "status": QUEUED,
            "attempt_count": GenerationJob.attempt_count - 1,
            "run_at": until,
        }
        return await self._transition(
            job_id,
            token,
            values,
            EventType.RETRY,
            reason,
            level=EventLevel.WARNING,
            payload={"state": QUEUED, "runAt": until.isoformat(), "deferred": True},
        )

    async def reap_expired(self) -> list[GenerationJob]:
        """Take back every running job whose lease ran out (its worker crashed, hung or lost the
        database), as `reap_statement` decides, and log each."""
        jobs = list((await self.session.scalars(reap_statement(now=utcnow()))).all())
        for job in jobs:
            await self.events.add(
                job.id,
                EventType.RETRY if job.status == QUEUED else EventType.STATE,
                f"{LEASE_EXPIRED_MESSAGE} Attempt {job.attempt_count} of {job.max_attempts}; "
                f"the job is now {job.status}.",
                level=EventLevel.WARNING,
                payload={"state": job.status, "attempt": job.attempt_count, "rescued": True},
            )
        await self.webhooks.announce_settled([job.id for job in jobs if job.status != QUEUED])
        return jobs

    async def _finish(
        self,
        job_id: str,
        token: str,
        status: JobStatus,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        event_payload: dict[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        """Move a running job to a final state, fenced by its lease token, and announce it."""
        finished = await self._transition(
            job_id,
            token,
            {"status": status.value, "completed_at": utcnow(), "leased_until": None, **values},
            EventType.STATE,
            message,
            level=level,
            payload={**(event_payload or {}), "state": status.value},
        )
        if finished:
            await self.webhooks.announce_settled([job_id])
        return finished

    async def _transition(
        self,
        job_id: str,
        token: str,
        values: dict[str, Any],
        event_type: EventType,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        payload: dict[str, Any],
    ) -> bool:
        """Apply `values` while this claim still holds the lease, and log it as one event.
        False (and nothing written) when the lease was lost."""
        result = await self.session.execute(
            fenced_update(job_id, token).values(**values, updated_at=utcnow())
        )
        if rowcount(result) != 1:
            return False
        await self.events.add(job_id, event_type, message, level=level, payload=payload)
        return True
