"""Every query of the service, for both dialects. It flushes but never commits: callers own the
transaction (the API's request session, or the worker's `sessionmaker.begin()` blocks)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TupleType, TypeEngine

from app.db.models import (
    Artifact,
    GenerationEvent,
    GenerationJob,
    Project,
    UTCDateTime,
    WorkerRecord,
    utcnow,
)
from app.domain import TERMINAL_STATUSES, EventLevel, EventType, JobStatus

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value
LEASE_EXPIRED_MESSAGE = "The worker running this job stopped renewing its lease."
# What a job that no worker holds looks like.
UNLEASED: dict[str, Any] = {"worker_id": None, "lease_token": None, "leased_until": None}


def fresh_token_sql(dialect_name: str) -> ColumnElement[str]:
    """A new random lease token per claimed row, computed by the database."""
    if dialect_name == "postgresql":
        return cast(func.gen_random_uuid(), String)
    return func.lower(func.hex(func.randomblob(16)))


def claim_statement(
    dialect_name: str, *, worker_id: str, limit: int, now: datetime, lease_s: float
) -> Executable:
    """The one statement that claims up to `limit` ready jobs for `worker_id`, its values bound
    (what `claim_jobs` runs as `claim_template` with `claim_params`)."""
    params = claim_params(worker_id=worker_id, limit=limit, now=now, lease_s=lease_s)
    return _claim(dialect_name, params)


def claim_params(*, worker_id: str, limit: int, now: datetime, lease_s: float) -> dict[str, Any]:
    leased_until = now + timedelta(seconds=lease_s)
    return {"worker_id": worker_id, "limit": limit, "now": now, "leased_until": leased_until}


@functools.cache
def claim_template(dialect_name: str) -> Executable:
    """The claim with its values left as named bind parameters (`claim_params`): built once per
    dialect, since building it takes longer than the database takes to run it."""
    return _claim(dialect_name, None)


def _claim(dialect_name: str, params: dict[str, Any] | None) -> Executable:
    """The claim, its bind parameters valued by `params`, or left for execution when None.

    Postgres: the ready rows are locked with `FOR UPDATE SKIP LOCKED` inside a MATERIALIZED CTE, so
    concurrent claimers skip each other's rows, and the planner cannot re-run the LIMIT subquery per
    updated row (which could claim more than `limit`). The UPDATE is a CTE too, whose rows a third
    one logs as 'started' events: one statement, one round trip. SQLite has no row locks and its
    dialect drops FOR UPDATE; the UPDATE … WHERE id IN (SELECT … LIMIT n) runs under the database
    write lock that `BEGIN IMMEDIATE` took, so two claimers are serialised and never see the same
    queued row; `claim_jobs` inserts the events.
    """

    def bound(name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
        if params is None:
            return bindparam(name, type_=type_)
        return bindparam(name, params[name], type_=type_)

    now = bound("now", UTCDateTime())
    ready: Select[str] = (
        select(GenerationJob.id)
        .where(GenerationJob.status == QUEUED, GenerationJob.run_at <= now)
        .order_by(GenerationJob.priority.desc(), GenerationJob.run_at, GenerationJob.id)
        .limit(bound("limit", Integer()))
    )
    values: dict[str, Any] = {
        "status": bindparam("status", RUNNING, type_=String()),
        "worker_id": bound("worker_id", String()),
        "lease_token": fresh_token_sql(dialect_name),
        "leased_until": bound("leased_until", UTCDateTime()),
        "heartbeat_at": now,
        "attempt_count": GenerationJob.attempt_count + 1,
        "started_at": func.coalesce(GenerationJob.started_at, now),
        "claimed_at": now,
        "updated_at": now,
        "stage": None,
        "progress": 0.0,
        "error_message": None,
    }
    if dialect_name != "postgresql":
        return (
            update(GenerationJob)
            .where(GenerationJob.id.in_(ready.scalar_subquery()))
            .values(values)
            .returning(GenerationJob)
            .execution_options(synchronize_session=False)
        )
    picked = ready.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
    claimed = (
        update(GenerationJob)
        .where(GenerationJob.id == picked.c.id)
        .values(values)
        .returning(GenerationJob)
        .cte("claimed")
    )
    attempt = cast(claimed.c.attempt_count, String)
    max_attempts = cast(claimed.c.max_attempts, String)
    started = {  # `started_event`, in SQL
        "event_type": literal(EventType.STATE.value),
        "level": literal(EventLevel.INFO.value),
        "message": "Job started (attempt " + attempt + " of " + max_attempts + ").",
        "payload": func.jsonb_build_object(
            "state", RUNNING, "attempt", claimed.c.attempt_count, "worker", values["worker_id"]
        ),
        "job_id": claimed.c.id,
        "created_at": now,
    }
    logged = insert(events_table()).from_select(list(started), select(*started.values()))
    return (
        select(aliased(GenerationJob, claimed))
        .add_cte(logged.cte("logged"))
        .execution_options(populate_existing=True)
    )


def started_event(job: GenerationJob, *, worker_id: str, now: datetime) -> dict[str, Any]:
    """The 'started' event of a claimed job, as `_insert_events` takes it."""
    return {
        "job_id": job.id,
        "event_type": EventType.STATE.value,
        "level": EventLevel.INFO.value,
        "message": f"Job started (attempt {job.attempt_count} of {job.max_attempts}).",
        "payload": {"state": RUNNING, "attempt": job.attempt_count, "worker": worker_id},
        "created_at": now,
    }


COMPLETED_EVENT: dict[str, Any] = {
    "event_type": EventType.STATE.value,
    "level": EventLevel.INFO.value,
    "message": "Job completed.",
    "payload": {"state": JobStatus.COMPLETED.value},
}


def events_table() -> Table:
    return GenerationEvent.metadata.tables[GenerationEvent.__tablename__]


@functools.cache
def completion_statement(dialect_name: str) -> Executable:
    """`complete_jobs`' statement, built once: complete every job named by an (id, lease token)
    pair of `:leases` that is still running and not being cancelled, returning their ids. On
    Postgres it also inserts their events, as a data-modifying CTE: one round trip."""
    now = bindparam("now", type_=UTCDateTime())
    leases = bindparam("leases", expanding=True, type_=TupleType(String(), String()))
    completed = (
        update(GenerationJob)
        .where(
            tuple_(GenerationJob.id, GenerationJob.lease_token).in_(leases),
            GenerationJob.status == RUNNING,
            GenerationJob.cancel_requested.is_(False),
        )
        .values(
            status=JobStatus.COMPLETED.value,
            completed_at=now,
            leased_until=None,
            result_path=None,
            progress=1.0,
            updated_at=now,
        )
        .returning(GenerationJob.id)
        .execution_options(synchronize_session=False)
    )
    if dialect_name != "postgresql":
        return completed
    done = completed.cte("done")
    events = events_table()
    columns = [*COMPLETED_EVENT, "job_id", "created_at"]
    values = [literal(value, type_=events.c[name].type) for name, value in COMPLETED_EVENT.items()]
    return (
        insert(events)
        .from_select(columns, select(*values, done.c.id, now))
        .add_cte(done)
        .returning(events.c.job_id)
    )


QUEUED_EVENT: dict[str, Any] = {
    "event_type": EventType.STATE.value,
    "level": EventLevel.INFO.value,
    "message": "Job queued.",
    "payload": {"state": QUEUED},
}
# The columns a new job's row sets (`new_job_row`); the rest stay empty until a worker claims it.
ENQUEUED_COLUMNS = (
    "id", "status", "kind", "payload", "priority", "max_attempts", "project_id",
    "idempotency_key", "run_at", "created_at", "updated_at", "cancel_requested", "attempt_count",
    "progress",
)  # fmt: skip


def new_job_row(
    *,
    payload: dict[str, Any],
    kind: str = "video",
    priority: int = 0,
    max_attempts: int = 3,
    project_id: int | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A queued job as `JobRepository.enqueue` inserts it, with a fresh id."""
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "status": QUEUED,
        "kind": kind,
        "payload": payload,
        "priority": priority,
        "max_attempts": max_attempts,
        "project_id": project_id,
        "idempotency_key": idempotency_key,
        "run_at": now,
        "created_at": now,
        "updated_at": now,
        "cancel_requested": False,
        "attempt_count": 0,
        "progress": 0.0,
    }


def jobs_table() -> Table:
    return GenerationJob.metadata.tables[GenerationJob.__tablename__]


@functools.cache
def enqueue_statement(dialect_name: str) -> Executable:
    """`enqueue`'s statement, built once: insert a job, its values bound by column name. On
    Postgres it also inserts the job's 'queued' event, as a data-modifying CTE: one round trip
    (the event's foreign key is checked at the end of the statement, after the job is in)."""
    jobs = jobs_table()
    bound = {name: bindparam(name, type_=jobs.c[name].type) for name in ENQUEUED_COLUMNS}
    job = insert(jobs).values(bound)
    if dialect_name != "postgresql":
        return job
    inserted = job.returning(jobs.c.id, jobs.c.created_at).cte("job")
    events = events_table()
    columns = [*QUEUED_EVENT, "job_id", "created_at"]
    values = [literal(value, type_=events.c[name].type) for name, value in QUEUED_EVENT.items()]
    return (
        insert(events)
        .from_select(columns, select(*values, inserted.c.id, inserted.c.created_at))
        .add_cte(inserted)
    )


class JobRepository:
    """Jobs, their events and artifacts, and the workers table."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect_name(self) -> str:
        return self.session.get_bind().dialect.name

    # -- jobs ------------------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[dict[str, Any]]) -> None:
        """Insert queued jobs (rows from `new_job_row`) and their 'queued' events: statements built
        once, no ORM objects (whose unit of work costs more than the round trips), and however
        many jobs, one statement on Postgres and two on SQLite. POST /api/generate's path."""
        if not jobs:
            return
        await self.session.execute(enqueue_statement(self.dialect_name), list(jobs))
        if self.dialect_name != "postgresql":  # there the statement logged them itself
            await self._insert_events(
                {"job_id": job["id"], **QUEUED_EVENT, "created_at": job["created_at"]}
                for job in jobs
            )

    async def create_job(
        self,
        *,
        payload: dict[str, Any],
        kind: str = "video",
        priority: int = 0,
        max_attempts: int = 3,
        project_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> GenerationJob:
        """Queue one job (`enqueue`) and return it as stored."""
        row = new_job_row(
            payload=payload,
            kind=kind,
            priority=priority,
            max_attempts=max_attempts,
            project_id=project_id,
            idempotency_key=idempotency_key,
        )
        await self.enqueue([row])
        job = await self.get_job(row["id"])
        assert job is not None  # inserted just now, in this transaction
        return job

    async def get_job(self, job_id: str) -> GenerationJob | None:
        return await self.session.get(GenerationJob, job_id, populate_existing=True)

    async def get_job_by_idempotency_key(self, key: str) -> GenerationJob | None:
        return await self.session.scalar(
            select(GenerationJob).where(GenerationJob.idempotency_key == key)
        )

    async def list_jobs(
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
        conditions = []
        if status is not None:
            conditions.append(GenerationJob.status == status.value)
        if subject_contains:
            subject = GenerationJob.payload["videoSubject"].as_string()
            conditions.append(subject.icontains(subject_contains, autoescape=True))
        if conditions:
            query = query.where(*conditions)
            count = count.where(*conditions)
        query = query.order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
        jobs = (await self.session.scalars(query.limit(limit).offset(offset))).all()
        total = await self.session.scalar(count)
        return jobs, int(total or 0)

    async def find_active_job(self) -> GenerationJob | None:
        """The job `POST /api/cancel` means: the oldest running one, else the newest queued one."""
        running = await self.session.scalar(
            select(GenerationJob)
            .where(GenerationJob.status == RUNNING, GenerationJob.cancel_requested.is_(False))
            .order_by(GenerationJob.started_at, GenerationJob.id)
            .limit(1)
        )
        if running is not None:
            return running
        return await self.session.scalar(
            select(GenerationJob)
            .where(GenerationJob.status == QUEUED)
            .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
            .limit(1)
        )

    async def request_cancel(self, job_id: str) -> GenerationJob | None:
        """Cancel a queued job at once, or flag a running one for its worker to kill.

        One UPDATE decides by the row's current state, so a job claimed between a read and this
        write is flagged rather than marked cancelled under its worker. Returns the job as it is
        afterwards, or None when it is not active.
        """
        now = utcnow()
        statement = (
            update(GenerationJob)
            .where(GenerationJob.id == job_id, GenerationJob.status.in_((QUEUED, RUNNING)))
            .values(
                status=case(
                    (GenerationJob.status == QUEUED, literal(JobStatus.CANCELLED.value)),
                    else_=GenerationJob.status,
                ),
                completed_at=case(
                    (GenerationJob.status == QUEUED, now), else_=GenerationJob.completed_at
                ),
                cancel_requested=True,
                updated_at=now,
            )
            .returning(GenerationJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        job = (await self.session.scalars(statement)).one_or_none()
        if job is None:
            return None
        if job.status == JobStatus.CANCELLED:
            await self.add_event(
                job.id, EventType.STATE, "Job cancelled.", payload={"state": job.status}
            )
        else:
            await self.add_event(job.id, EventType.LOG, "Cancellation requested.")
        return job

    async def project_exists(self, project_id: int) -> bool:
        found = await self.session.scalar(select(Project.id).where(Project.id == project_id))
        return found is not None

    async def create_project(self, name: str) -> Project:
        project = Project(name=name, created_at=utcnow())
        self.session.add(project)
        await self.session.flush()
        return project

    async def prune_finished(self, *, before: datetime, limit: int) -> list[str]:
        """Delete up to `limit` finished jobs (completed, failed, cancelled) that ended before
        `before` (`completed_at`, else `updated_at`) and return their ids. Their events and
        artifacts go with them (ON DELETE CASCADE). Queued and running jobs are never selected.

        Postgres locks the batch with `FOR UPDATE SKIP LOCKED` in a MATERIALIZED CTE: two pruners
        take different rows instead of waiting on each other, and a row changed meanwhile (a
        retry requeued it) is re-checked under its lock and kept. SQLite's `BEGIN IMMEDIATE`
        serialises the whole statement.
        """
        if limit <= 0:
            return []
        finished = sorted(status.value for status in TERMINAL_STATUSES)
        ended_at = func.coalesce(GenerationJob.completed_at, GenerationJob.updated_at)
        expired: Select[str] = (
            select(GenerationJob.id)
            .where(GenerationJob.status.in_(finished), ended_at < before)
            .limit(limit)
        )
        if self.dialect_name == "postgresql":
            picked = expired.with_for_update(skip_locked=True).cte("expired")
            picked = picked.prefix_with("MATERIALIZED")
            where: ColumnElement[bool] = GenerationJob.id.in_(select(picked.c.id))
        else:
            where = GenerationJob.id.in_(expired.scalar_subquery())
        deleted = await self.session.scalars(
            delete(GenerationJob)
            .where(where)
            .returning(GenerationJob.id)
            .execution_options(synchronize_session=False)
        )
        return list(deleted.all())

    async def existing_job_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of `job_ids` are jobs in the table (retention's check for orphan folders)."""
        if not job_ids:
            return set()
        found = await self.session.scalars(
            select(GenerationJob.id).where(GenerationJob.id.in_(job_ids))
        )
        return set(found.all())

    # -- events ----------------------------------------------------------------------------

    async def add_event(
        self,
        job_id: str,
        event_type: EventType,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        payload: dict[str, Any] | None = None,
    ) -> GenerationEvent:
        event = GenerationEvent(
            job_id=job_id,
            event_type=event_type.value,
            level=level.value,
            message=message,
            payload=payload,
            created_at=utcnow(),
        )
        self.session.add(event)
        await self.session.flush()
        return event

    async def _insert_events(self, rows: Iterable[dict[str, Any]]) -> None:
        """Many events in one statement (no ORM objects): the worker's hot path."""
        values = list(rows)
        if values:
            await self.session.execute(insert(events_table()), values)

    async def list_events(
        self, job_id: str, *, after: int = 0, limit: int = 500
    ) -> Sequence[GenerationEvent]:
        """Events of a job with an id greater than `after`, oldest first."""
        return (
            await self.session.scalars(
                select(GenerationEvent)
                .where(GenerationEvent.job_id == job_id, GenerationEvent.id > after)
                .order_by(GenerationEvent.id)
                .limit(limit)
            )
        ).all()

    # -- the worker's side -----------------------------------------------------------------

    async def claim_jobs(
        self, *, worker_id: str, limit: int, lease_s: float
    ) -> list[GenerationJob]:
        """Claim up to `limit` ready jobs, highest priority first, and log each claim. One
        statement on Postgres (the worker sends it without BEGIN and COMMIT)."""
        if limit <= 0:
            return []
        now = utcnow()
        params = claim_params(worker_id=worker_id, limit=limit, now=now, lease_s=lease_s)
        jobs = list((await self.session.scalars(claim_template(self.dialect_name), params)).all())
        # RETURNING gives no order; hand them out in queue order.
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        if self.dialect_name != "postgresql":  # there the claim logged them itself
            await self._insert_events(
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

    async def renew_leases(
        self, *, worker_id: str, leases: dict[str, str], lease_s: float
    ) -> set[str]:
        """Extend the lease of every job this worker still holds, in one statement.

        Returns the ids whose lease was renewed; a job missing from it was lost (reaped, or
        finished by someone else) and its result must be discarded.
        """
        if not leases:
            return set()
        now = utcnow()
        pairs = [
            and_(GenerationJob.id == job_id, GenerationJob.lease_token == token)
            for job_id, token in leases.items()
        ]
        renewed = await self.session.scalars(
            update(GenerationJob)
            .where(GenerationJob.status == RUNNING, GenerationJob.worker_id == worker_id)
            .where(or_(*pairs))
            .values(leased_until=now + timedelta(seconds=lease_s), heartbeat_at=now)
            .returning(GenerationJob.id)
            .execution_options(synchronize_session=False)
        )
        return set(renewed.all())

    async def record_progress(
        self, job_id: str, token: str, *, stage: str | None, progress: float
    ) -> bool:
        result = await self.session.execute(
            self._fenced(job_id, token).values(
                stage=stage, progress=min(max(progress, 0.0), 1.0), updated_at=utcnow()
            )
        )
        return _rowcount(result) == 1

    async def mark_completed(self, job_id: str, token: str, *, result_path: str | None) -> bool:
        return await self._finish(
            job_id,
            token,
            JobStatus.COMPLETED,
            "Job completed.",
            result_path=result_path,
            progress=1.0,
        )

    async def complete_jobs(self, leases: dict[str, str]) -> dict[str, str]:
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
        statement = completion_statement(self.dialect_name)
        completed = set((await self.session.scalars(statement, params)).all())
        if self.dialect_name != "postgresql":  # there the statement logged them itself
            await self._insert_events(
                {"job_id": job_id, **COMPLETED_EVENT, "created_at": now}
                for job_id in leases
                if job_id in completed
            )
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

    async def reap_expired_leases(self) -> list[GenerationJob]:
        """Take back every running job whose lease ran out (its worker crashed, hung or lost the
        database): to the queue, or `failed` when its attempts are spent, or `cancelled` when a
        cancel was asked. One UPDATE whose WHERE re-checks the lease, so concurrent reapers in
        several workers never take the same job twice, and a worker that renewed in time keeps
        its job."""
        now = utcnow()
        cancelled = GenerationJob.cancel_requested.is_(True)
        spent = GenerationJob.attempt_count >= GenerationJob.max_attempts
        new_status = case(
            (cancelled, literal(JobStatus.CANCELLED.value)),
            (spent, literal(JobStatus.FAILED.value)),
            else_=literal(QUEUED),
        )
        ended = or_(cancelled, spent)
        statement = (
            update(GenerationJob)
            .where(GenerationJob.status == RUNNING, GenerationJob.leased_until < now)
            .values(
                status=new_status,
                # Ready again now; an ended job keeps its run_at (metrics: its pickup latency).
                run_at=case((ended, GenerationJob.run_at), else_=now),
                **UNLEASED,
                completed_at=case((ended, now), else_=GenerationJob.completed_at),
                error_message=case(
                    (cancelled, GenerationJob.error_message),
                    else_=literal(LEASE_EXPIRED_MESSAGE),
                ),
                updated_at=now,
            )
            .returning(GenerationJob)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        jobs = list((await self.session.scalars(statement)).all())
        for job in jobs:
            await self.add_event(
                job.id,
                EventType.RETRY if job.status == QUEUED else EventType.STATE,
                f"{LEASE_EXPIRED_MESSAGE} Attempt {job.attempt_count} of {job.max_attempts}; "
                f"the job is now {job.status}.",
                level=EventLevel.WARNING,
                payload={"state": job.status, "attempt": job.attempt_count, "rescued": True},
            )
        return jobs

    async def requeue(self, job_id: str) -> GenerationJob | None:
        """`POST /api/jobs/{id}/retry`: a failed or cancelled job queued again with fresh
        attempts. None when the job is not failed or cancelled."""
        now = utcnow()
        job = (
            await self.session.scalars(
                update(GenerationJob)
                .where(
                    GenerationJob.id == job_id,
                    GenerationJob.status.in_((JobStatus.FAILED.value, JobStatus.CANCELLED.value)),
                )
                .values(
                    status=QUEUED,
                    attempt_count=0,
                    cancel_requested=False,
                    run_at=now,
                    completed_at=None,
                    error_message=None,
                    result_path=None,
                    stage=None,
                    progress=0.0,
                    updated_at=now,
                )
                .returning(GenerationJob)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        ).one_or_none()
        if job is not None:
            await self.add_event(
                job.id, EventType.RETRY, "Job requeued by request.", payload={"state": QUEUED}
            )
        return job

    async def release_job(self, job_id: str, token: str, *, reason: str) -> bool:
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
        """Move a running job to a final state, fenced by its lease token."""
        return await self._transition(
            job_id,
            token,
            {"status": status.value, "completed_at": utcnow(), "leased_until": None, **values},
            EventType.STATE,
            message,
            level=level,
            payload={**(event_payload or {}), "state": status.value},
        )

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
            self._fenced(job_id, token).values(**values, updated_at=utcnow())
        )
        if _rowcount(result) != 1:
            return False
        await self.add_event(job_id, event_type, message, level=level, payload=payload)
        return True

    @staticmethod
    def _fenced(job_id: str, token: str) -> Update:
        """An UPDATE that only touches the job while this claim still holds its lease."""
        return (
            update(GenerationJob)
            .where(
                GenerationJob.id == job_id,
                GenerationJob.lease_token == token,
                GenerationJob.status == RUNNING,
            )
            .execution_options(synchronize_session=False)
        )

    # -- artifacts -------------------------------------------------------------------------

    async def add_artifact(
        self,
        job_id: str,
        *,
        kind: str,
        path: str,
        size_bytes: int,
        sha256: str,
        mime: str,
        media: dict[str, Any] | None = None,
    ) -> Artifact:
        artifact = Artifact(
            job_id=job_id,
            kind=kind,
            path=path,
            bytes=size_bytes,
            sha256=sha256,
            mime=mime,
            media=media,
            created_at=utcnow(),
        )
        self.session.add(artifact)
        await self.session.flush()
        return artifact

    async def get_artifact(self, job_id: str, artifact_id: int) -> Artifact | None:
        return await self.session.scalar(
            select(Artifact).where(Artifact.job_id == job_id, Artifact.id == artifact_id)
        )

    async def latest_artifact(self, job_id: str, kind: str) -> Artifact | None:
        return await self.session.scalar(
            select(Artifact)
            .where(Artifact.job_id == job_id, Artifact.kind == kind)
            .order_by(Artifact.id.desc())
            .limit(1)
        )

    async def list_artifacts(self, job_id: str) -> Sequence[Artifact]:
        return (
            await self.session.scalars(
                select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id)
            )
        ).all()

    # -- workers ---------------------------------------------------------------------------

    async def register_worker(self, worker_id: str, *, slots: int, version: str) -> None:
        now = utcnow()
        self.session.add(
            WorkerRecord(
                id=worker_id, started_at=now, heartbeat_at=now, slots=slots, busy=0, version=version
            )
        )
        await self.session.flush()

    async def touch_worker(self, worker_id: str, *, busy: int) -> None:
        await self.session.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(heartbeat_at=utcnow(), busy=busy)
        )

    async def remove_worker(self, worker_id: str) -> None:
        await self.session.execute(delete(WorkerRecord).where(WorkerRecord.id == worker_id))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
