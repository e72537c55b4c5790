"""Request and response models of the public API, with the original's camelCase names.

Every response body is an envelope with `"status": "success" | "error"`; errors carry a `message`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from app.db.metrics import RECENT_WINDOW_S, Histogram, QueueMetrics
from app.db.models import Artifact, GenerationEvent, GenerationJob
from app.domain import JobStatus, VideoSpec

EXAMPLE_JOB_ID = "3f2b8c1e-5d4a-4e8f-9a61-0c7d2e9b4f10"
SPEC_FIELDS: set[str] = set(VideoSpec.model_fields)


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorResponse(CamelModel):
    status: Literal["error"] = "error"
    message: str = Field(examples=["Job not found."])


class MessageResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str


class GenerateRequest(VideoSpec):
    """A video to make (the spec) and how to queue it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "videoSubject": "Why octopuses are smart",
                    "script": "Octopuses have nine brains. Each arm can taste what it touches.",
                    "quality": "draft",
                }
            ]
        }
    )

    max_attempts: int | None = Field(None, ge=1, le=10, description="server default when unset")
    priority: int = Field(0, ge=-100, le=100, description="higher runs first")
    # projects.id is a 32-bit INTEGER: a larger id names no project, and Postgres refuses it.
    project_id: int | None = Field(None, ge=1, le=2**31 - 1)

    def spec(self) -> VideoSpec:
        return VideoSpec.model_validate(self.model_dump(include=set(VideoSpec.model_fields)))

    def payload(self) -> dict[str, Any]:
        """`spec()` as a job stores it (JSON types, camelCase names), in one step: dumping the
        spec's fields gives what validating them into a VideoSpec first would, since each of its
        validators returns what it is given a second time."""
        return self.model_dump(mode="json", by_alias=True, include=SPEC_FIELDS)


class GenerateResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str = "Video generation queued."
    job_id: str = Field(examples=[EXAMPLE_JOB_ID])


class JobRead(CamelModel):
    id: str = Field(examples=[EXAMPLE_JOB_ID])
    state: str = Field(
        examples=["running"], description="queued, running, completed, failed, cancelled"
    )
    stage: str | None = Field(examples=["render"])
    progress: float = Field(ge=0, le=1, examples=[0.42])
    cancel_requested: bool
    attempt_count: int
    max_attempts: int
    priority: int
    project_id: int | None
    video_subject: str
    result_path: str | None = Field(
        examples=[f"jobs/{EXAMPLE_JOB_ID}/1/video.mp4"], description="relative to the data folder"
    )
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, job: GenerationJob) -> JobRead:
        return cls(
            id=job.id,
            state=job.status,
            stage=job.stage,
            progress=job.progress,
            cancel_requested=job.cancel_requested,
            attempt_count=job.attempt_count,
            max_attempts=job.max_attempts,
            priority=job.priority,
            project_id=job.project_id,
            video_subject=str(job.payload.get("videoSubject", "")),
            result_path=job.result_path,
            error_message=job.error_message,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            updated_at=job.updated_at,
            payload=job.payload,
        )


class JobResponse(CamelModel):
    status: Literal["success"] = "success"
    job: JobRead


class JobPage(CamelModel):
    status: Literal["success"] = "success"
    jobs: list[JobRead]
    total: int
    limit: int
    offset: int


class CancelResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str = "Cancellation requested."
    job_id: str
    state: str


class RetryResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str = "Job requeued."
    job_id: str
    state: str


class EventRead(CamelModel):
    id: int = Field(examples=[42])
    type: str = Field(
        examples=["stage"], description="log, stage, progress, state, retry, artifact"
    )
    level: str = Field(examples=["info"])
    message: str = Field(examples=["Rendering the video."])
    payload: dict[str, Any] | None
    timestamp: datetime

    @classmethod
    def of(cls, event: GenerationEvent) -> EventRead:
        return cls(
            id=event.id,
            type=event.event_type,
            level=event.level,
            message=event.message,
            payload=event.payload,
            timestamp=event.created_at,
        )


class EventList(CamelModel):
    status: Literal["success"] = "success"
    events: list[EventRead]
    last_event_id: int = Field(description="pass as `after` to get only newer events")


class ArtifactRead(CamelModel):
    id: int
    kind: str = Field(examples=["video"], description="video, thumbnail, voice, subtitles, …")
    path: str = Field(description="relative to the data folder")
    bytes: int
    sha256: str
    mime: str = Field(examples=["video/mp4"])
    media: dict[str, Any] | None = Field(description="duration, width, height where known")
    url: str = Field(examples=[f"/api/jobs/{EXAMPLE_JOB_ID}/artifacts/1"])
    created_at: datetime

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactRead:
        return cls(
            id=artifact.id,
            kind=artifact.kind,
            path=artifact.path,
            bytes=artifact.bytes,
            sha256=artifact.sha256,
            mime=artifact.mime,
            media=artifact.media,
            url=f"/api/jobs/{artifact.job_id}/artifacts/{artifact.id}",
            created_at=artifact.created_at,
        )


class ArtifactList(CamelModel):
    status: Literal["success"] = "success"
    artifacts: list[ArtifactRead]


class ModelsResponse(CamelModel):
    status: Literal["success", "error"]
    message: str | None = None
    models: list[str]
    default: str


class SongRead(CamelModel):
    name: str
    bytes: int
    modified_at: datetime


class SongList(CamelModel):
    status: Literal["success"] = "success"
    songs: list[SongRead]


class UploadResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str = Field(examples=["Uploaded 2 song(s)."])
    songs: list[str] = Field(description="the stored names, to use as `song` in a request")


class HealthResponse(CamelModel):
    status: Literal["success"] = "success"
    database: Literal["ok"] = "ok"
    dialect: str
    version: str


class JobCounts(CamelModel):
    """Jobs by state; the final states (completed, failed, cancelled) are the outcomes."""

    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int


class QueuedJobs(CamelModel):
    ready: int = Field(description="queued jobs whose runAt has come")
    scheduled: int = Field(description="queued jobs waiting out a retry backoff (runAt ahead)")
    oldest_ready_age_seconds: float = Field(
        examples=[0.8], description="since the oldest ready job became ready; 0 when none is"
    )


class RecentOutcomes(CamelModel):
    """Jobs that ended in each final state within the last `windowSeconds`: recent throughput."""

    window_seconds: int = Field(examples=[3600])
    completed: int
    failed: int
    cancelled: int


class HistogramBucket(CamelModel):
    le: float = Field(examples=[0.5], description="upper bound, seconds")
    count: int = Field(description="jobs at or under the bound (cumulative, as in Prometheus)")


class HistogramRead(CamelModel):
    buckets: list[HistogramBucket]
    count: int = Field(description="all jobs measured, those above the last bound included")
    sum_seconds: float
    p50_seconds: float | None = Field(description="estimated from the buckets; null when empty")
    p95_seconds: float | None = Field(description="estimated from the buckets; null when empty")

    @classmethod
    def of(cls, histogram: Histogram) -> HistogramRead:
        return cls(
            buckets=[
                HistogramBucket(le=bound, count=count)
                for bound, count in zip(
                    histogram.bounds_s, histogram.cumulative_counts, strict=True
                )
            ],
            count=histogram.count,
            sum_seconds=histogram.sum_s,
            p50_seconds=histogram.quantile(0.5),
            p95_seconds=histogram.quantile(0.95),
        )


class WorkerRead(CamelModel):
    id: str = Field(examples=["render-1:4242:9f3a"], description="host:pid:random")
    slots: int
    busy: int
    heartbeat_age_seconds: float


class MetricsResponse(CamelModel):
    """The queue's figures over the jobs and events still in the database (retention prunes
    finished jobs, so the histograms and counts cover the recent past)."""

    status: Literal["success"] = "success"
    collected_at: datetime
    jobs: JobCounts
    queued: QueuedJobs
    pickup_latency: HistogramRead = Field(description="runAt to the latest claim, seconds")
    run_time: HistogramRead = Field(description="latest claim to the end, finished jobs, seconds")
    retries: int = Field(description="retry events")
    rescued_leases: int = Field(description="expired leases the reaper took back")
    workers: list[WorkerRead] = Field(description="workers with a recent heartbeat")
    busy_slots: int
    total_slots: int
    recent: RecentOutcomes

    @classmethod
    def of(cls, metrics: QueueMetrics) -> MetricsResponse:
        return cls(
            collected_at=metrics.collected_at,
            jobs=JobCounts.model_validate(
                {state.value: count for state, count in metrics.jobs_by_state.items()}
            ),
            queued=QueuedJobs(
                ready=metrics.ready,
                scheduled=metrics.scheduled,
                oldest_ready_age_seconds=metrics.oldest_ready_age_s,
            ),
            pickup_latency=HistogramRead.of(metrics.pickup_latency),
            run_time=HistogramRead.of(metrics.run_time),
            retries=metrics.retries,
            rescued_leases=metrics.rescued_leases,
            workers=[
                WorkerRead(
                    id=worker.id,
                    slots=worker.slots,
                    busy=worker.busy,
                    heartbeat_age_seconds=worker.heartbeat_age_s,
                )
                for worker in metrics.workers
            ],
            busy_slots=metrics.busy_slots,
            total_slots=metrics.total_slots,
            recent=RecentOutcomes(
                window_seconds=RECENT_WINDOW_S,
                completed=metrics.finished_recently[JobStatus.COMPLETED],
                failed=metrics.finished_recently[JobStatus.FAILED],
                cancelled=metrics.finished_recently[JobStatus.CANCELLED],
            ),
        )
