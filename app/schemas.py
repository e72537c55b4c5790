"""Request and response models of the public API, with the original's camelCase names.

Every response body is an envelope with `"status": "success" | "error"`; errors carry a `message`.
The models of stored things (`…Read`) are validated from the attributes of what the repositories
return, so a route passes a row or a value as it is; where a wire name differs from the
attribute's, the field names its source (`validation_alias`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
)
from pydantic.alias_generators import to_camel

from app.domain import VideoSpec
from app.webhooks import shown_endpoint
from app.youtube import watch_url

EXAMPLE_JOB_ID = "3f2b8c1e-5d4a-4e8f-9a61-0c7d2e9b4f10"
SPEC_FIELDS: set[str] = set(VideoSpec.model_fields)


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ReadModel(CamelModel):
    """A response part read from an object's attributes (a table row, a dataclass)."""

    model_config = ConfigDict(from_attributes=True)


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


class JobRead(ReadModel):
    # `videoSubject` has a default (a job queued by other means may have none) and stays required
    # in the schema: every response carries it.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str = Field(examples=[EXAMPLE_JOB_ID])
    kind: str = Field(
        "video", examples=["video"], description="video (the pipeline) or publish (to YouTube)"
    )
    state: str = Field(
        validation_alias=AliasChoices("state", "status"),
        examples=["running"],
        description="queued, running, completed, failed, cancelled",
    )
    stage: str | None = Field(examples=["render"])
    progress: float = Field(ge=0, le=1, examples=[0.42])
    cancel_requested: bool
    attempt_count: int
    max_attempts: int
    priority: int
    project_id: int | None
    video_subject: str = Field(
        "", validation_alias=AliasChoices("videoSubject", AliasPath("payload", "videoSubject"))
    )
    result_path: str | None = Field(
        examples=[f"jobs/{EXAMPLE_JOB_ID}/1/video.mp4"],
        description="relative to the data folder, or to the bucket's prefix",
    )
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    payload: dict[str, Any]

    @field_validator("video_subject", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> str:
        # A payload stored by other means than the API may hold anything under videoSubject.
        return value if isinstance(value, str) else str(value)


class PublicationRead(ReadModel):
    """A publish job's upload to YouTube (the video job's, or the publish job's own)."""

    job_id: str = Field(description="the publish job")
    video_job_id: str
    account_id: int | None
    video_id: str | None = Field(
        validation_alias=AliasChoices("videoId", "youtube_video_id"),
        description="YouTube's id of the video, once uploaded",
    )
    bytes_total: int
    bytes_acknowledged: int = Field(description="what YouTube holds of the upload")
    thumbnail_set: bool
    published_at: datetime | None

    @computed_field(examples=["https://youtu.be/dQw4w9WgXcQ"])  # type: ignore[prop-decorator]
    @property
    def url(self) -> str | None:
        return watch_url(self.video_id) if self.video_id else None


class JobResponse(CamelModel):
    status: Literal["success"] = "success"
    job: JobRead
    publications: list[PublicationRead] = Field(
        default_factory=list, description="its uploads to YouTube (a publish job: its own)"
    )


class AccountRead(ReadModel):
    """A connected YouTube channel. Its tokens are never shown."""

    id: int
    channel_id: str
    channel_title: str
    status: Literal["connected", "disconnected"]
    status_message: str | None = Field(description="why it is disconnected")
    created_at: datetime
    updated_at: datetime


class AccountList(CamelModel):
    status: Literal["success"] = "success"
    accounts: list[AccountRead]


class ConnectResponse(CamelModel):
    status: Literal["success"] = "success"
    authorization_url: str = Field(description="Google's consent page: open it in the browser")
    expires_in_seconds: int = Field(description="how long the sign-in may take")


class PublishResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str = "Publishing queued."
    job_id: str = Field(description="the publish job")


class JobPage(CamelModel):
    status: Literal["success"] = "success"
    jobs: list[JobRead]
    total: int
    limit: int
    offset: int


class BatchRequest(CamelModel):
    """Videos to queue together: each entry of `jobs` is a `POST /api/generate` body's fields
    over the shared `options` (an entry's own fields win)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Ocean week",
                    "options": {"quality": "draft", "voice": "en_US-joe-medium"},
                    "jobs": [
                        {"videoSubject": "Octopuses"},
                        {"videoSubject": "Whale songs", "script": "Whales sing for hours."},
                    ],
                }
            ]
        }
    )

    title: str = Field("", max_length=200)
    options: dict[str, Any] = Field(
        default_factory=dict, description="fields every job shares (those of /api/generate)"
    )
    jobs: list[dict[str, Any]] = Field(
        min_length=1, description="one entry per video, each at least a `videoSubject`"
    )
    priority: int = Field(
        -1, ge=-100, le=100, description="its jobs' priority; -1 lets single videos go first"
    )
    max_attempts: int | None = Field(None, ge=1, le=10, description="server default when unset")

    @field_validator("title")
    @classmethod
    def _refuse_nul(cls, value: str) -> str:
        if "\x00" in value:  # Postgres cannot store it (the entries are checked as videos)
            raise ValueError("must not contain NUL characters")
        return value


class BatchCreated(CamelModel):
    status: Literal["success"] = "success"
    message: str = "Batch queued."
    batch_id: str = Field(examples=[EXAMPLE_JOB_ID])
    job_ids: list[str]


class BatchJobRead(ReadModel):
    """A batch's job, in brief (`GET /api/jobs/{id}` has the rest)."""

    id: str
    state: str = Field(validation_alias=AliasChoices("state", "status"))
    stage: str | None
    progress: float
    video_subject: str = Field(
        "", validation_alias=AliasChoices("videoSubject", AliasPath("payload", "videoSubject"))
    )
    error_message: str | None
    result_path: str | None


class BatchRead(ReadModel):
    id: str
    title: str
    total: int
    priority: int
    created_at: datetime
    state: str = Field(
        description="running, awaiting_review (a job waits for its review), completed, failed "
        "(any job failed), cancelled"
    )
    progress: float = Field(ge=0, le=1, description="finished jobs whole, running ones in part")
    counts: dict[str, int] = Field(description="jobs in each state", examples=[{"queued": 3}])


class BatchResponse(CamelModel):
    status: Literal["success"] = "success"
    batch: BatchRead
    jobs: list[BatchJobRead]


class BatchPage(CamelModel):
    status: Literal["success"] = "success"
    batches: list[BatchRead]
    total: int
    limit: int
    offset: int


class BatchActionResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str
    batch_id: str
    job_ids: list[str] = Field(description="the jobs the action changed")


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


class EventRead(ReadModel):
    id: int = Field(examples=[42])
    type: str = Field(
        validation_alias=AliasChoices("type", "event_type"),
        examples=["stage"],
        description="log, stage, progress, state, retry, artifact",
    )
    level: str = Field(examples=["info"])
    message: str = Field(examples=["Rendering the video."])
    payload: dict[str, Any] | None
    created_at: datetime = Field(description="when it happened: ISO 8601, UTC")

    @computed_field(  # type: ignore[prop-decorator]
        examples=[1765000000.25],
        description="when it happened: seconds since the Unix epoch, as the original "
        "MoneyPrinter's clients read it (`new Date(timestamp * 1000)`)",
    )
    @property
    def timestamp(self) -> float:
        return self.created_at.timestamp()


class EventList(CamelModel):
    status: Literal["success"] = "success"
    events: list[EventRead]
    last_event_id: int = Field(description="pass as `after` to get only newer events")


class ArtifactRead(ReadModel):
    id: int
    job_id: str = Field(exclude=True)
    kind: str = Field(examples=["video"], description="video, thumbnail, voice, subtitles, …")
    path: str = Field(description="relative to the data folder, or to the bucket's prefix")
    bytes: int
    sha256: str
    mime: str = Field(examples=["video/mp4"])
    media: dict[str, Any] | None = Field(description="duration, width, height where known")
    created_at: datetime

    @computed_field(examples=[f"/api/jobs/{EXAMPLE_JOB_ID}/artifacts/1"])  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"/api/jobs/{self.job_id}/artifacts/{self.id}"


class ArtifactList(CamelModel):
    status: Literal["success"] = "success"
    artifacts: list[ArtifactRead]


class WebhookDeliveryRead(ReadModel):
    """One message to one endpoint, and how its delivery went."""

    id: int
    message_id: str = Field(
        examples=["msg_5f0c1e2d3b4a49d8a7c6b5e4f3a2b1c0"],
        description="the `webhook-id` header: the same on every attempt and to every endpoint",
    )
    type: str = Field(
        validation_alias=AliasChoices("type", "event_type"),
        examples=["job.completed"],
        description="job.completed, job.failed, job.cancelled",
    )
    job_id: str
    endpoint_url: str = Field(
        validation_alias=AliasChoices("endpointUrl", "endpoint"),
        exclude=True,
    )
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending: to be sent (again) at `nextAttemptAt`; failed: given up"
    )
    attempts: int = Field(validation_alias=AliasChoices("attempts", "attempt_count"))
    next_attempt_at: datetime | None = Field(
        validation_alias=AliasChoices("nextAttemptAt", "next_attempt_at")
    )
    last_status_code: int | None = Field(description="the endpoint's HTTP answer, if any")
    last_error: str | None = Field(description="why the latest attempt failed")
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None

    @computed_field(examples=["https://hooks.example.org/moneyprinter"])  # type: ignore[prop-decorator]
    @property
    def endpoint(self) -> str:
        """The endpoint, without a password or query (either may hold a token)."""
        return shown_endpoint(self.endpoint_url)


class WebhookDeliveryList(CamelModel):
    status: Literal["success"] = "success"
    deliveries: list[WebhookDeliveryRead]


class WebhookDeliveryPage(WebhookDeliveryList):
    total: int
    limit: int
    offset: int


class WebhookDeliveryResponse(CamelModel):
    status: Literal["success"] = "success"
    message: str
    delivery: WebhookDeliveryRead


class ModelsResponse(CamelModel):
    status: Literal["success", "error"]
    message: str | None = None
    models: list[str]
    default: str


class SongRead(ReadModel):
    name: str
    bytes: int = Field(validation_alias=AliasChoices("bytes", "size_bytes"))
    modified_at: datetime


class SongList(CamelModel):
    status: Literal["success"] = "success"
    songs: list[SongRead]


class SkippedFileRead(ReadModel):
    name: str = Field(examples=["cover.jpg"], description="the file's name, without its folder")
    reason: str = Field(
        examples=["not an MP3 file (an MP3 starts with an ID3 tag or an MPEG audio frame)"]
    )


class UploadResponse(CamelModel):
    """At least one file was stored; `skipped` says which others were not, and why."""

    status: Literal["success"] = "success"
    message: str = Field(examples=["Uploaded 2 song(s)."])
    songs: list[str] = Field(description="the stored names, to use as `song` in a request")
    skipped: list[SkippedFileRead] = Field(description="the files not stored, each with why")


class UploadRefused(CamelModel):
    """No file was stored (400): `skipped` says why for each one."""

    status: Literal["error"] = "error"
    message: str = Field(
        examples=[
            "No MP3 files found. notes.txt: not an MP3 file (an MP3 starts with an ID3 tag "
            "or an MPEG audio frame)."
        ]
    )
    skipped: list[SkippedFileRead]


class VoiceRead(CamelModel):
    id: str = Field(examples=["en_US-joe-medium"], description="pass as `voice` in a request")
    name: str = Field(examples=["Joe (en-US)"])
    engine: Literal["piper", "espeak-ng"]
    language: str = Field(examples=["en-US"])
    default: bool


class VoiceList(CamelModel):
    status: Literal["success"] = "success"
    voices: list[VoiceRead]
    default: str | None = Field(examples=["en_US-joe-medium"], description="none installed: null")


class HealthResponse(CamelModel):
    status: Literal["success"] = "success"
    database: Literal["ok"] = "ok"
    dialect: str
    version: str


class JobCounts(ReadModel):
    """Jobs by state; the final states (completed, failed, cancelled) are the outcomes."""

    queued: int
    running: int
    awaiting_review: int = Field(alias="awaiting_review")  # named as the state is
    completed: int
    failed: int
    cancelled: int


class QueuedJobs(ReadModel):
    ready: int = Field(description="queued jobs whose runAt has come")
    scheduled: int = Field(description="queued jobs waiting out a retry backoff (runAt ahead)")
    oldest_ready_age_seconds: float = Field(
        validation_alias=AliasChoices("oldestReadyAgeSeconds", "oldest_ready_age_s"),
        examples=[0.8],
        description="since the oldest ready job became ready; 0 when none is",
    )


class RecentOutcomes(ReadModel):
    """Jobs that ended in each final state within the last `windowSeconds`: recent throughput."""

    window_seconds: int = Field(
        validation_alias=AliasChoices("windowSeconds", "window_s"), examples=[3600]
    )
    completed: int
    failed: int
    cancelled: int


class HistogramBucket(ReadModel):
    le: float = Field(examples=[0.5], description="upper bound, seconds")
    count: int = Field(description="jobs at or under the bound (cumulative, as in Prometheus)")


class HistogramRead(ReadModel):
    buckets: list[HistogramBucket]
    count: int = Field(description="all jobs measured, those above the last bound included")
    sum_seconds: float = Field(validation_alias=AliasChoices("sumSeconds", "sum_s"))
    p50_seconds: float | None = Field(
        validation_alias=AliasChoices("p50Seconds", "p50_s"),
        description="estimated from the buckets; null when empty",
    )
    p95_seconds: float | None = Field(
        validation_alias=AliasChoices("p95Seconds", "p95_s"),
        description="estimated from the buckets; null when empty",
    )


class WorkerRead(ReadModel):
    id: str = Field(examples=["render-1:4242:9f3a"], description="host:pid:random")
    slots: int
    busy: int
    heartbeat_age_seconds: float = Field(
        validation_alias=AliasChoices("heartbeatAgeSeconds", "heartbeat_age_s")
    )


class MetricsResponse(ReadModel):
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


class TokenRequest(CamelModel):
    scope: str = Field(
        max_length=1024,
        examples=[f"/api/jobs/{EXAMPLE_JOB_ID}"],
        description="the path the token opens to GET, with everything below it",
    )


class TokenResponse(CamelModel):
    status: Literal["success"] = "success"
    token: str | None = Field(
        description="add as `?token=` to a GET under the scope; null: the server has no API key, "
        "so no URL needs one"
    )
    scope: str
    expires_in_seconds: int | None = Field(examples=[600], description="null with no token")
