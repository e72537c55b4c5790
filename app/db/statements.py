"""The queue's statements, apart from the repositories that run them.

Each builder returns one statement for one dialect. The hot ones (enqueue, claim, completion) are
built once per dialect with their values left as named bind parameters, since building them takes
longer than the database takes to run them; the rest take their values when built. On Postgres
the hot ones also log their events in a data-modifying CTE (one round trip); on SQLite the
repository inserts those events with a second statement in the same transaction, from the same
rows (`queued_event`, `started_event`, `completed_event`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
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
from sqlalchemy.orm import aliased
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import ReturningDelete
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TupleType

from app.db.dialect import Dialect
from app.db.models import GenerationEvent, GenerationJob, UTCDateTime, utcnow
from app.domain import TERMINAL_STATUSES, EventLevel, EventType, JobStatus

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value
AWAITING_REVIEW = JobStatus.AWAITING_REVIEW.value
LEASE_EXPIRED_MESSAGE = "The worker running this job stopped renewing its lease."
# What a job that no worker holds looks like.
UNLEASED: dict[str, Any] = {"worker_id": None, "lease_token": None, "leased_until": None}

# -- the events the statements log -----------------------------------------------------------

QUEUED_EVENT: dict[str, Any] = {
    "event_type": EventType.STATE.value,
    "level": EventLevel.INFO.value,
    "message": "Job queued.",
    "payload": {"state": QUEUED},
}
COMPLETED_EVENT: dict[str, Any] = {
    "event_type": EventType.STATE.value,
    "level": EventLevel.INFO.value,
    "message": "Job completed.",
    "payload": {"state": JobStatus.COMPLETED.value},
}


def queued_event(job: Mapping[str, Any]) -> dict[str, Any]:
    """The 'queued' event of a row from `new_job_row`."""
    return {"job_id": job["id"], **QUEUED_EVENT, "created_at": job["created_at"]}


def started_event(job: GenerationJob, *, worker_id: str, now: datetime) -> dict[str, Any]:
    """The 'started' event of a claimed job (what the Postgres claim writes in SQL)."""
    return {
        "job_id": job.id,
        "event_type": EventType.STATE.value,
        "level": EventLevel.INFO.value,
        "message": f"Job started (attempt {job.attempt_count} of {job.max_attempts}).",
        "payload": {"state": RUNNING, "attempt": job.attempt_count, "worker": worker_id},
        "created_at": now,
    }


def completed_event(job_id: str, *, now: datetime) -> dict[str, Any]:
    return {"job_id": job_id, **COMPLETED_EVENT, "created_at": now}


def jobs_table() -> Table:
    return GenerationJob.metadata.tables[GenerationJob.__tablename__]


def events_table() -> Table:
    return GenerationEvent.metadata.tables[GenerationEvent.__tablename__]


# -- enqueue ---------------------------------------------------------------------------------

# The columns a new job's row sets (`new_job_row`); the rest stay empty until a worker claims it.
ENQUEUED_COLUMNS = (
    "id", "status", "kind", "payload", "priority", "max_attempts", "project_id",
    "idempotency_key", "run_at", "created_at", "updated_at", "cancel_requested", "attempt_count",
    "progress", "batch_id", "storyboard",
)  # fmt: skip


def new_job_row(
    *,
    payload: dict[str, Any],
    kind: str = "video",
    priority: int = 0,
    max_attempts: int = 3,
    project_id: int | None = None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
    storyboard: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A queued job as `enqueue_statement` inserts it, with a fresh id."""
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
        "batch_id": batch_id,
        "storyboard": storyboard,
    }


@functools.cache
def enqueue_statement(dialect: Dialect) -> Executable:
    """Insert a job, its values bound by column name (`new_job_row`). With data-modifying CTEs it
    also inserts the job's 'queued' event (whose foreign key is checked at the end of the
    statement, after the job is in)."""
    jobs = jobs_table()
    bound = {name: bindparam(name, type_=jobs.c[name].type) for name in ENQUEUED_COLUMNS}
    job = insert(jobs).values(bound)
    if not dialect.writes_in_ctes:
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


# -- claim -----------------------------------------------------------------------------------


def claim_params(*, worker_id: str, limit: int, now: datetime, lease_s: float) -> dict[str, Any]:
    """The values `claim_statement` is executed with."""
    leased_until = now + timedelta(seconds=lease_s)
    return {"worker_id": worker_id, "limit": limit, "now": now, "leased_until": leased_until}


def fresh_token_sql(dialect: Dialect) -> ColumnElement[str]:
    """A new random lease token per claimed row, computed by the database."""
    if dialect is Dialect.POSTGRES:
        return cast(func.gen_random_uuid(), String)
    return func.lower(func.hex(func.randomblob(16)))


@functools.cache
def claim_statement(dialect: Dialect) -> Executable:
    """The one statement that claims up to `:limit` ready jobs for `:worker_id`, highest priority
    first, valued by `claim_params`.

    With row locks, the ready rows are locked with `FOR UPDATE SKIP LOCKED` inside a MATERIALIZED
    CTE, so concurrent claimers skip each other's rows, and the planner cannot re-run the LIMIT
    subquery per updated row (which could claim more than `limit`). The UPDATE is a CTE too,
    whose rows a third one logs as 'started' events: one statement, one round trip. SQLite has no
    row locks and its dialect drops FOR UPDATE; the UPDATE … WHERE id IN (SELECT … LIMIT n) runs
    under the database write lock that `BEGIN IMMEDIATE` took, so two claimers are serialised and
    never see the same queued row; the repository inserts the events.
    """
    now = bindparam("now", type_=UTCDateTime())
    ready: Select[str] = (
        select(GenerationJob.id)
        .where(GenerationJob.status == QUEUED, GenerationJob.run_at <= now)
        .order_by(GenerationJob.priority.desc(), GenerationJob.run_at, GenerationJob.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    values: dict[str, Any] = {
        "status": bindparam("status", RUNNING, type_=String()),
        "worker_id": bindparam("worker_id", type_=String()),
        "lease_token": fresh_token_sql(dialect),
        "leased_until": bindparam("leased_until", type_=UTCDateTime()),
        "heartbeat_at": now,
        "attempt_count": GenerationJob.attempt_count + 1,
        "started_at": func.coalesce(GenerationJob.started_at, now),
        "claimed_at": now,
        "updated_at": now,
        "stage": None,
        "progress": 0.0,
        "error_message": None,
    }
    if not dialect.locks_rows:
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


# -- the claimed job's life ------------------------------------------------------------------


def renew_leases_statement(
    *, worker_id: str, leases: Mapping[str, str], lease_s: float, now: datetime
) -> Update:
    """Extend the lease of every (job id, token) in `leases` this worker still holds; returns the
    ids renewed."""
    pairs = [
        and_(GenerationJob.id == job_id, GenerationJob.lease_token == token)
        for job_id, token in leases.items()
    ]
    return (
        update(GenerationJob)
        .where(GenerationJob.status == RUNNING, GenerationJob.worker_id == worker_id)
        .where(or_(*pairs))
        .values(leased_until=now + timedelta(seconds=lease_s), heartbeat_at=now)
        .returning(GenerationJob.id)
        .execution_options(synchronize_session=False)
    )


def holds_lease(job_id: str, token: str) -> ColumnElement[bool]:
    """The job is running under this claim: its lease has not been lost."""
    return and_(
        GenerationJob.id == job_id,
        GenerationJob.lease_token == token,
        GenerationJob.status == RUNNING,
    )


def fenced_update(job_id: str, token: str) -> Update:
    """An UPDATE that only touches the job while this claim still holds its lease."""
    return (
        update(GenerationJob)
        .where(holds_lease(job_id, token))
        .execution_options(synchronize_session=False)
    )


@functools.cache
def completion_statement(dialect: Dialect) -> Executable:
    """Complete every job named by an (id, lease token) pair of `:leases` that is still running
    and not being cancelled, returning their ids. With data-modifying CTEs it also inserts their
    'completed' events."""
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
    if not dialect.writes_in_ctes:
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


def reap_statement(*, now: datetime) -> Update:
    """Take back every running job whose lease ran out: to the queue, or `failed` when its
    attempts are spent, or `cancelled` when a cancel was asked. The WHERE re-checks the lease, so
    concurrent reapers never take the same job twice, and a worker that renewed in time keeps its
    job. Returns the jobs as they are afterwards."""
    cancelled = GenerationJob.cancel_requested.is_(True)
    spent = GenerationJob.attempt_count >= GenerationJob.max_attempts
    new_status = case(
        (cancelled, literal(JobStatus.CANCELLED.value)),
        (spent, literal(JobStatus.FAILED.value)),
        else_=literal(QUEUED),
    )
    ended = or_(cancelled, spent)
    return (
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


# -- the API's changes to a job --------------------------------------------------------------


def request_cancel_statement(job_id: str, *, now: datetime) -> Update:
    """Cancel a queued job (or one awaiting review) at once, or flag a running one for its
    worker to kill. One UPDATE
    decides by the row's current state, so a job claimed between a read and this write is
    flagged rather than marked cancelled under its worker. Returns the job if it was active."""
    return (
        update(GenerationJob)
        .where(
            GenerationJob.id == job_id,
            GenerationJob.status.in_((QUEUED, RUNNING, AWAITING_REVIEW)),
        )
        .values(
            status=case(
                (GenerationJob.status == RUNNING, GenerationJob.status),
                else_=literal(JobStatus.CANCELLED.value),
            ),
            completed_at=case(
                (GenerationJob.status == RUNNING, GenerationJob.completed_at), else_=now
            ),
            cancel_requested=True,
            updated_at=now,
        )
        .returning(GenerationJob)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


def requeue_statement(job_id: str, *, now: datetime) -> Update:
    """A failed or cancelled job queued again with fresh attempts; returns it if it was one."""
    return (
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


def prune_statement(dialect: Dialect, *, before: datetime, limit: int) -> ReturningDelete[str]:
    """Delete up to `limit` finished jobs that ended before `before` (`completed_at`, else
    `updated_at`), returning their ids; their events and artifacts go with them (ON DELETE
    CASCADE). Queued and running jobs are never selected.

    With row locks the batch is locked with `FOR UPDATE SKIP LOCKED` in a MATERIALIZED CTE: two
    pruners take different rows instead of waiting on each other, and a row changed meanwhile (a
    retry requeued it) is re-checked under its lock and kept. SQLite's `BEGIN IMMEDIATE`
    serialises the whole statement.
    """
    finished = sorted(status.value for status in TERMINAL_STATUSES)
    ended_at = func.coalesce(GenerationJob.completed_at, GenerationJob.updated_at)
    expired: Select[str] = (
        select(GenerationJob.id)
        .where(GenerationJob.status.in_(finished), ended_at < before)
        .limit(limit)
    )
    where: ColumnElement[bool]
    if dialect.locks_rows:
        picked = expired.with_for_update(skip_locked=True).cte("expired")
        picked = picked.prefix_with("MATERIALIZED")
        where = GenerationJob.id.in_(select(picked.c.id))
    else:
        where = GenerationJob.id.in_(expired.scalar_subquery())
    return (
        delete(GenerationJob)
        .where(where)
        .returning(GenerationJob.id)
        .execution_options(synchronize_session=False)
    )
