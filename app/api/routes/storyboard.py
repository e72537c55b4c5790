"""Review before render: a job's storyboard, read and edited, then rendered."""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, File, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import JobIdDep, JobsDep, SettingsDep
from app.api.files import local_file, stored_file
from app.api.queue_cap import QueueCap
from app.api.routes import ERRORS, NOT_FOUND
from app.api.routes.jobs import QUEUE_FULL, check_song
from app.clip_uploads import (
    MIME_TYPES,
    ClipRefused,
    is_upload_name,
    keep_upload,
    upload_key,
    uploads_folder,
)
from app.db.models import GenerationJob
from app.db.repositories import JobRepository
from app.db.statements import new_job_row
from app.domain import PREVIEW_KIND, JobStatus, VideoSpec, frame_size_px
from app.errors import BadGateway, BadRequest, Conflict, JobNotFound, NotFound
from app.footage_search import SearchError, configured_sites, lookup, search
from app.schemas import ErrorResponse, RetryResponse
from app.settings import Settings
from app.storyboard import (
    MAX_SCENES,
    SPEC_FIELDS,
    EditError,
    Storyboard,
    StoryboardEdit,
    StoryClip,
    apply_edit,
    clip_key,
)

router = APIRouter(prefix="/api", tags=["review"])

CHANGED = "The storyboard changed since it was read (another edit): read it again, then edit."
PREVIEW_PRIORITY = 100  # a person waits for it: ahead of every video
MAX_CLIPS = 300  # a storyboard's clips: searches add to them, the oldest spare ones go
MAX_LOOKUPS = 10  # clips an edit may name by id alone, each asked of its site
ADD_ATTEMPTS = 3  # reads of a storyboard an addition of clips makes when edits keep winning
NOT_IN_REVIEW: dict[int | str, dict[str, object]] = {
    409: ERRORS[400] | {"description": "The job has no storyboard, or no longer awaits review"}
}


class ClipView(StoryClip):
    key: str = Field(description="what an edit names it by: `<source>:<id>`")
    download_url: str = Field("", exclude=True)  # the worker's business

    @classmethod
    def of(cls, clip: StoryClip) -> ClipView:
        return cls(**clip.model_dump(), key=clip_key(clip))


class SceneView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    text: str
    term: str
    start_s: float | None = Field(description="in the voice; null until it is spoken again")
    end_s: float | None
    clip: ClipView | None = Field(description="null: a generated background")
    candidates: list[ClipView] = Field(description="other clips found for it, best first")


class StoryboardView(BaseModel):
    """A job's storyboard: its scenes in order, each with its clip and the other candidates;
    every clip it knows (`clips`, by key); and the settings an edit may change."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: Literal["success"] = "success"
    job_id: str
    version: str = Field(description="what an edit sends back, so that it edits this storyboard")
    state: JobStatus
    approved: bool
    scenes: list[SceneView]
    clips: list[ClipView]
    settings: dict[str, Any] = Field(
        description="voice, song, useMusic, musicVolume, color, subtitlesPosition, fontSize, "
        "wordHighlight"
    )


@router.get(
    "/jobs/{job_id}/storyboard",
    response_model=StoryboardView,
    responses={**ERRORS, **NOT_FOUND, **NOT_IN_REVIEW},
    summary="A job's storyboard",
)
async def get_storyboard(job_id: JobIdDep, jobs: JobsDep) -> StoryboardView:
    """The plan of a job queued with `"review": true`, once its planning stages are done (it is
    then `awaiting_review`)."""
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    return _view(job, _storyboard_of(job))


@router.patch(
    "/jobs/{job_id}/storyboard",
    response_model=StoryboardView,
    responses={**ERRORS, **NOT_FOUND, **NOT_IN_REVIEW},
    summary="Edit a storyboard",
)
async def edit_storyboard(
    job_id: JobIdDep, body: StoryboardEdit, request: Request, settings: SettingsDep
) -> StoryboardView:
    """Change the scenes (the whole list, in its new order: a scene's `text`, its `clip` by key
    from `clips` or null for a generated background; a scene given as just its text keeps the
    clip of the scene that was at its place), and the voice, music or subtitle settings. Only
    what an edit changes is made again at the render: an unchanged sentence is not spoken again.
    A bad edit is a 400 naming the scene and field (`scenes[2].clip: …`). With the `version`
    it was read at, an edit of a storyboard changed since (another tab's) is refused with 409."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    # Short sessions on either side of the stock sites' answers: no connection waits on them.
    async with maker() as session:
        job, storyboard = await _in_review(job_id, JobRepository(session))
    if body.version is not None and body.version != str(storyboard.revision):
        raise Conflict(CHANGED)
    storyboard = await _with_named_clips(storyboard, body, job=job, settings=settings)
    try:
        edited, payload = apply_edit(
            storyboard, dict(job.payload), body, max_words=settings.max_script_words
        )
    except EditError as exc:
        raise BadRequest(str(exc)) from None
    await check_song(VideoSpec.model_validate(payload).song, settings=settings)
    document = edited.model_dump(mode="json", by_alias=True)
    async with maker.begin() as session:
        jobs = JobRepository(session)
        saved = await jobs.edit_storyboard(job_id, document, payload, seen=job.updated_at)
        if saved is None:
            raise await _lost_race(job_id, jobs)
        return _view(saved, edited)


class FootageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    query: str = Field(min_length=1, max_length=100, examples=["coral reef"])
    source: Literal["auto", "pexels", "pixabay"] = Field(
        "auto", description="auto: every stock site this server has a key for"
    )


class FootageFound(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: Literal["success"] = "success"
    clips: list[ClipView] = Field(
        description="now in the storyboard's `clips`: a scene may use one"
    )
    warnings: list[str] = Field(description="a site that failed while another answered")


@router.post(
    "/jobs/{job_id}/storyboard/search",
    response_model=FootageFound,
    responses={
        **ERRORS, **NOT_FOUND, **NOT_IN_REVIEW,
        502: ERRORS[400] | {"description": "Every site asked failed"},
    },
    summary="Search footage for a storyboard",
)  # fmt: skip
async def search_footage(
    job_id: JobIdDep, body: FootageQuery, request: Request, settings: SettingsDep
) -> FootageFound:
    """Search the stock sites this server has keys for (Pexels, Pixabay), for a frame of the
    job's size. What is found joins the storyboard's `clips`, so an edit can name it."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        job, _ = await _in_review(job_id, JobRepository(session))
    try:
        sites = configured_sites(settings, body.source)
    except SearchError as exc:
        raise BadRequest(f"source: {exc}") from None
    try:
        found, warnings = await search(body.query, sites, settings=settings, size_px=_frame(job))
    except SearchError as exc:
        raise BadGateway(str(exc)) from None
    async with maker.begin() as session:
        await _add_clips(job_id, found, JobRepository(session))
    return FootageFound(
        clips=[ClipView.of(clip) for clip in found],
        warnings=warnings,
    )


class ClipUploaded(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: Literal["success"] = "success"
    clip: ClipView = Field(description="now in the storyboard's `clips`, for a scene")


@router.post(
    "/jobs/{job_id}/storyboard/clips",
    response_model=ClipUploaded,
    responses={
        **ERRORS, **NOT_FOUND, **NOT_IN_REVIEW,
        413: {"model": ErrorResponse, "description": "The request is too large"},
    },
    summary="Upload a clip for a storyboard",
)  # fmt: skip
async def upload_clip(
    job_id: JobIdDep,
    file: Annotated[UploadFile, File(description="a video (MP4/MOV, WebM/Matroska) or a picture")],
    request: Request,
    settings: SettingsDep,
) -> ClipUploaded:
    """Keep a clip of your own for the job: checked by its content (a video or a JPEG, PNG or
    WebP picture that can be read), it joins the storyboard's `clips` as `upload:<name>`, for a
    scene to show. The body is limited to MONEYPRINTER_MAX_UPLOAD_BYTES."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    # Short sessions around the file's check: it holds no database connection meanwhile.
    async with maker() as session:
        job, _ = await _in_review(job_id, JobRepository(session))
    try:
        clip = await asyncio.to_thread(
            keep_upload, file.file, filename=file.filename or "", job_id=job.id,
            data_dir=settings.data_dir, store=settings.object_store, ffmpeg_exe=settings.ffmpeg_exe,
        )  # fmt: skip
    except ClipRefused as exc:
        raise BadRequest(f"file: {exc}") from None
    served = f"/api/jobs/{job.id}/storyboard/clips/{clip.id}"
    still = clip.duration_s == 0
    clip = clip.model_copy(update={"preview_url": served, "thumbnail_url": served if still else ""})
    async with maker.begin() as session:
        await _add_clips(job_id, [clip], JobRepository(session))
    return ClipUploaded(clip=ClipView.of(clip))


@router.get(
    "/jobs/{job_id}/storyboard/clips/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}, "image/jpeg": {}}, "description": "The clip"},
        **ERRORS, **NOT_FOUND,
    },
    summary="A clip uploaded for a storyboard",
)  # fmt: skip
async def get_uploaded_clip(
    job_id: JobIdDep, name: str, settings: SettingsDep, request: Request
) -> Response:
    if not is_upload_name(name):
        raise NotFound("No such clip.")
    mime = MIME_TYPES[PurePosixPath(name).suffix]
    store = settings.object_store
    if store is not None:
        return await stored_file(
            store, upload_key(job_id, name), request, media_type=mime, filename=name
        )
    path = uploads_folder(settings.data_dir, job_id) / name
    if not path.is_file():
        raise NotFound("No such clip.")
    return local_file(path, media_type=mime, filename=name)


class PreviewQueued(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: Literal["success"] = "success"
    job_id: str = Field(description="the preview's own job: its video, once completed")
    state: str


@router.post(
    "/jobs/{job_id}/storyboard/scenes/{number}/preview",
    response_model=PreviewQueued,
    responses={**ERRORS, **NOT_FOUND, **NOT_IN_REVIEW, **QUEUE_FULL},
    summary="Render one scene as a draft",
)
async def preview_scene(
    job_id: JobIdDep,
    number: Annotated[int, PathParam(ge=1, le=MAX_SCENES, description="the scene, from 1")],
    jobs: JobsDep,
    request: Request,
    background: BackgroundTasks,
) -> PreviewQueued:
    """Queue a draft render of one scene as the storyboard holds it (save an edit first): its
    voice, its clip and its subtitles, at half size, ahead of the videos in the queue. It is a
    job of its own (kind `preview`, not listed by GET /api/jobs), whose video plays at
    /api/jobs/{its id}/video once it completes; what it speaks and downloads is reused by the
    render."""
    queue_cap: QueueCap = request.app.state.queue_cap
    await queue_cap.check()
    job, storyboard = await _in_review(job_id, jobs)
    if number > len(storyboard.scenes):
        raise NotFound(f"The storyboard has {len(storyboard.scenes)} scenes.")
    one = storyboard.scene_alone(number - 1)
    scene = one.scenes[0]
    spec = VideoSpec.model_validate(job.payload).model_copy(
        update={"quality": "draft", "review": False, "automate_youtube_upload": False,
                "publish": None, "script": scene.text}
    )  # fmt: skip
    row = new_job_row(
        payload={**spec.model_dump(mode="json", by_alias=True), "previewOf": job.id},
        kind=PREVIEW_KIND, priority=PREVIEW_PRIORITY, max_attempts=1,
        storyboard=one.model_dump(mode="json", by_alias=True),
    )  # fmt: skip
    await jobs.enqueue([row])
    queue_cap.added()
    background.add_task(request.app.state.wake_workers)
    return PreviewQueued(job_id=row["id"], state="queued")


@router.post(
    "/jobs/{job_id}/review",
    response_model=RetryResponse,
    responses={**ERRORS, **NOT_FOUND, **NOT_IN_REVIEW},
    summary="Open a storyboard to edits again",
)
async def reopen_review(job_id: JobIdDep, jobs: JobsDep) -> RetryResponse:
    """A failed or cancelled job that was reviewed goes back to `awaiting_review`, its
    storyboard as it was rendered, to change what failed (a clip that cannot be had any more)
    and render again. Its attempts start afresh."""
    job = await jobs.reopen_review(job_id)
    if job is None:
        existing = await jobs.get(job_id)
        if existing is None:
            raise JobNotFound()
        raise Conflict(
            f"Job is {existing.status}"
            + ("" if existing.storyboard is not None else " and has no storyboard")
            + "; only a failed or cancelled job that was reviewed can be reviewed again."
        )
    return RetryResponse(
        message="The storyboard awaits review again.", job_id=job.id, state=job.status
    )


@router.post(
    "/jobs/{job_id}/render",
    response_model=RetryResponse,
    responses={**ERRORS, **NOT_FOUND, **NOT_IN_REVIEW},
    summary="Render a reviewed storyboard",
)
async def render_storyboard(
    job_id: JobIdDep, jobs: JobsDep, request: Request, background: BackgroundTasks
) -> RetryResponse:
    """Queue the job awaiting review for its render, as its storyboard now stands; what the
    edits left unchanged (sentences spoken, clips downloaded) is not made again. 429 with
    `Retry-After` while the queue is full."""
    queue_cap: QueueCap = request.app.state.queue_cap
    await queue_cap.check()
    job = await jobs.approve_storyboard(job_id)
    if job is None:
        existing = await jobs.get(job_id)
        if existing is None:
            raise JobNotFound()
        if existing.status == JobStatus.AWAITING_REVIEW:
            raise Conflict(CHANGED)
        raise Conflict(f"Job is {existing.status}; only a job awaiting review can be rendered.")
    queue_cap.added()
    background.add_task(request.app.state.wake_workers)
    return RetryResponse(job_id=job.id, state=job.status)


async def _add_clips(job_id: str, found: list[StoryClip], jobs: JobRepository) -> None:
    """Add clips to the storyboard's `clips` (those it holds stay as they are), reading it again
    when an edit came in between."""
    for _ in range(ADD_ATTEMPTS):
        job, storyboard = await _in_review(job_id, jobs)
        clips = _bounded({**storyboard.clips, **{clip_key(c): c for c in found}}, storyboard)
        grown = storyboard.model_copy(update={"clips": clips}).model_dump(
            mode="json", by_alias=True
        )
        if await jobs.edit_storyboard(job_id, grown, dict(job.payload), seen=job.updated_at):
            return
    raise await _lost_race(job_id, jobs)


def _bounded(clips: dict[str, StoryClip], storyboard: Storyboard) -> dict[str, StoryClip]:
    """At most MAX_CLIPS, the oldest that no scene shows or offers dropped first (searches
    add to the end)."""
    used = {key for scene in storyboard.scenes for key in (scene.clip, *scene.candidates) if key}
    spare = [key for key in clips if key not in used]
    dropped = set(spare[: max(0, len(clips) - MAX_CLIPS)])
    return {key: clip for key, clip in clips.items() if key not in dropped}


async def _lost_race(job_id: str, jobs: JobRepository) -> Conflict:
    """Why a storyboard's write found the row changed: it left review, or another edit won."""
    job = await jobs.get(job_id)
    if job is None or job.status != JobStatus.AWAITING_REVIEW:
        return Conflict("The job no longer awaits review.")
    return Conflict(CHANGED)


async def _in_review(job_id: str, jobs: JobRepository) -> tuple[GenerationJob, Storyboard]:
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    storyboard = _storyboard_of(job)
    if job.status != JobStatus.AWAITING_REVIEW:
        raise Conflict(f"Job is {job.status}; a storyboard can be edited only in awaiting_review.")
    return job, storyboard


async def _with_named_clips(
    storyboard: Storyboard, edit: StoryboardEdit, *, job: GenerationJob, settings: Settings
) -> Storyboard:
    """The storyboard with the stock clips the edit names by id but does not hold yet, asked of
    their sites (a reviewer may paste a Pexels or Pixabay id); 400 naming the first that cannot
    be had."""
    wanted = [
        (number, scene.clip)
        for number, scene in enumerate(edit.scenes or ())
        if scene.clip and scene.clip not in storyboard.clips
    ]
    if not wanted:
        return storyboard
    if len({key for _, key in wanted}) > MAX_LOOKUPS:
        raise BadRequest(f"scenes: at most {MAX_LOOKUPS} clips from outside the storyboard at once")
    clips, size_px = dict(storyboard.clips), _frame(job)
    for number, key in wanted:
        if key in clips:
            continue
        found = await lookup(key, settings=settings, size_px=size_px)
        if isinstance(found, str):
            raise BadRequest(f"scenes[{number}].clip: {found}")
        clips[key] = found
    return storyboard.model_copy(update={"clips": clips})


def _frame(job: GenerationJob) -> tuple[int, int]:
    spec = VideoSpec.model_validate(job.payload)
    return frame_size_px(spec.aspect, spec.quality)


def _storyboard_of(job: GenerationJob) -> Storyboard:
    if job.storyboard is None:
        raise Conflict(
            f"Job is {job.status} and has no storyboard: only a job queued with "
            '"review": true has one, once its planning stages are done.'
        )
    return Storyboard.model_validate(job.storyboard)


def _view(job: GenerationJob, storyboard: Storyboard) -> StoryboardView:
    clips = {key: ClipView.of(clip) for key, clip in storyboard.clips.items()}
    spec = VideoSpec.model_validate(job.payload).model_dump(include=set(SPEC_FIELDS), by_alias=True)
    return StoryboardView(
        job_id=job.id,
        version=str(storyboard.revision),
        state=JobStatus(job.status),
        approved=storyboard.approved,
        scenes=[
            SceneView(
                text=scene.text,
                term=scene.term,
                start_s=scene.start_s,
                end_s=scene.end_s,
                clip=clips.get(scene.clip) if scene.clip else None,
                candidates=[clips[key] for key in scene.candidates if key in clips],
            )
            for scene in storyboard.scenes
        ],
        clips=list(clips.values()),
        settings=spec,
    )
