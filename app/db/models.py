"""Tables (docs/architecture.md, "Data"), as SQLAlchemy 2 typed models. Alembic creates them;
the app never does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.db.dialect import Dialect as DatabaseDialect

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    SQLite keeps no zone: values are stored as naive UTC text (whose order is time order, which the
    claim's `run_at <= :now` relies on) and come back tagged as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        # A plain comparison: this runs for every timestamp bound, on the queue's hot paths.
        return value.replace(tzinfo=None) if dialect.name == DatabaseDialect.SQLITE else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid).
EventId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GenerationJob(Base):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'awaiting_review', 'completed', 'failed', "
            "'cancelled')",
            name="status",
        ),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        # The claim's index: small and partial, so it only holds the ready queue and the
        # heartbeat's updates of running rows never touch it (they stay HOT on Postgres).
        Index(
            "ix_generation_jobs_ready",
            text("priority DESC"),
            "run_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index("ix_generation_jobs_status_created", "status", "created_at"),
        Index("ix_generation_jobs_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # What the worker runs: "video" (the pipeline, in a child process) or "noop".
    kind: Mapped[str] = mapped_column(String(32), default="video", server_default="video")
    payload: Mapped[dict[str, Any]]
    priority: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[str | None] = mapped_column(String(64))
    leased_until: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    result_path: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    # When the latest attempt was claimed: pickup latency is claimed_at - run_at.
    claimed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The batch it was queued in (POST /api/batches), if any. No foreign key: SQLite cannot add
    # one to a table that exists; a batch row goes only once no job names it (retention).
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # A job asked to wait for review (`"review": true`): its plan, as the worker made it and a
    # reviewer edited it (app/storyboard.py); read by the render that follows.
    storyboard: Mapped[dict[str, Any] | None]


class GenerationEvent(Base):
    __tablename__ = "generation_events"
    __table_args__ = (Index("ix_generation_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_job_id_kind", "job_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    # Empty: `path` is in the data folder; else the bucket holding it (`s3://bucket/prefix`).
    store: Mapped[str] = mapped_column(Text, default="", server_default="")
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(100))
    media: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FootageUse(Base):
    """A clip a completed video used, so the next videos of its subject or account pick
    others. Deleted with its job."""

    __tablename__ = "footage_uses"
    __table_args__ = (
        Index("ix_footage_uses_job_id", "job_id"),
        Index("ix_footage_uses_subject", "subject", "used_at"),
        Index("ix_footage_uses_account", "account", "used_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    clip: Mapped[str] = mapped_column(Text)  # the source and its id: "Pexels:855386"
    subject: Mapped[str] = mapped_column(String(200))  # lower-case, spaces collapsed
    account: Mapped[str | None] = mapped_column(String(64))  # where it is published, if anywhere
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    """Jobs queued together (POST /api/batches); its figures are read from its jobs."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    total: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # The request's Idempotency-Key: a repeated POST /api/batches returns this batch.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)


class WorkerRecord(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    slots: Mapped[int] = mapped_column(Integer)
    busy: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[str] = mapped_column(String(50))


class WebhookDelivery(Base):
    """One message to one endpoint: the outbox row written with the state change it announces,
    then its delivery's state (app/webhooks.py, worker/webhooks.py)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        # The sender's claim: only what is still to be delivered.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_job_id", "job_id"),
        Index("ix_webhook_deliveries_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(Text)
    # The exact bytes sent (UTF-8): the signature is over them, on every attempt.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # When the next attempt is due; while an attempt runs, when its claim runs out.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class YouTubeAccount(Base):
    """A YouTube channel the service may upload to: its OAuth client and refresh token, both
    secrets sealed with MONEYPRINTER_SECRET_KEY (app/crypto.py); never returned by the API."""

    __tablename__ = "youtube_accounts"
    __table_args__ = (CheckConstraint("status IN ('connected', 'disconnected')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel_title: Mapped[str] = mapped_column(String(200), default="")
    client_id: Mapped[str] = mapped_column(Text)
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    token_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="connected")
    status_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Publication(Base):
    """A publish job's upload: where it stands with YouTube, so that a worker that dies
    mid-upload resumes the same upload session and never makes a second video."""

    __tablename__ = "publications"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("generation_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    video_job_id: Mapped[str] = mapped_column(
        ForeignKey("generation_jobs.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("youtube_accounts.id", ondelete="SET NULL")
    )
    # The resumable upload's session URI (a capability: never shown) and what YouTube holds.
    upload_uri: Mapped[str | None] = mapped_column(Text)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_acknowledged: Mapped[int] = mapped_column(BigInteger, default=0)
    video_sha256: Mapped[str | None] = mapped_column(String(64))
    youtube_video_id: Mapped[str | None] = mapped_column(String(32))
    thumbnail_set: Mapped[bool] = mapped_column(Boolean, default=False)
    # Added to the playlist the request named (or no playlist named).
    playlist_done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]
