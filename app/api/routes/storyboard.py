"""Review before render: a job's storyboard, read and edited, then rendered."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from app.api.deps import JobIdDep, JobsDep, SettingsDep, songs_of
from app.api.queue_cap import QueueCap
from app.api.routes import ERRORS, NOT_FOUND
from app.db.models import GenerationJob
from app.domain import JobStatus, VideoSpec
from app.errors import BadRequest, Conflict, JobNotFound
from app.schemas import RetryResponse
from app.storyboard import SPEC_FIELDS, EditError, Storyboard, StoryboardEdit, StoryClip, apply_edit

router = APIRouter(prefix="/api", tags=["review"])

NOT_IN_REVIEW: dict[int | str, dict[str, object]] = {
    409: ERRORS[400] | {"description": "The job has no storyboard, or no longer awaits review"}
}


class ClipView(StoryClip):
    key: str = Field(description="what an edit names it by: `<source>:<id>`")
    download_url: str = Field("", exclude=True)  # the worker's business


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

    job_id: str
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
    job_id: JobIdDep, body: StoryboardEdit, jobs: JobsDep, settings: SettingsDep
) -> StoryboardView:
    """Change the scenes (the whole list, in its new order: a scene's `text`, its `clip` by key
    from `clips` or null for a generated background; a scene given as just its text keeps the
    clip of the scene that was at its place), and the voice, music or subtitle settings. Only
    what an edit changes is made again at the render: an unchanged sentence is not spoken again.
    A bad edit is a 400 naming the scene and field (`scenes[2].clip: …`)."""
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound()
    storyboard = _storyboard_of(job)
    if job.status != JobStatus.AWAITING_REVIEW:
        raise Conflict(f"Job is {job.status}; a storyboard can be edited only in awaiting_review.")
    try:
        edited, payload = apply_edit(
            storyboard, dict(job.payload), body, max_words=settings.max_script_words
        )
    except EditError as exc:
        raise BadRequest(str(exc)) from None
    song = VideoSpec.model_validate(payload).song
    if song and not await asyncio.to_thread(songs_of(settings).exists, song):
        raise BadRequest(f"song: no uploaded song is named {song!r}.")
    document = edited.model_dump(mode="json", by_alias=True)
    saved = await jobs.edit_storyboard(job_id, document, payload)
    if saved is None:
        raise Conflict("The job no longer awaits review.")
    return _view(saved, edited)


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
        raise Conflict(f"Job is {existing.status}; only a job awaiting review can be rendered.")
    queue_cap.added()
    background.add_task(request.app.state.wake_workers)
    return RetryResponse(job_id=job.id, state=job.status)


def _storyboard_of(job: GenerationJob) -> Storyboard:
    if job.storyboard is None:
        raise Conflict(
            f"Job is {job.status} and has no storyboard: only a job queued with "
            '"review": true has one, once its planning stages are done.'
        )
    return Storyboard.model_validate(job.storyboard)


def _view(job: GenerationJob, storyboard: Storyboard) -> StoryboardView:
    clips = {key: ClipView(**clip.model_dump(), key=key) for key, clip in storyboard.clips.items()}
    spec = VideoSpec.model_validate(job.payload).model_dump(include=set(SPEC_FIELDS), by_alias=True)
    return StoryboardView(
        job_id=job.id,
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
