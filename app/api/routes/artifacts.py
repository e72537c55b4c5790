"""A job's files: the list, the video (HTTP Range, so a browser can seek), any artifact by id."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from app.api.deps import ArtifactsDep, JobIdDep, JobsDep, SettingsDep
from app.api.files import GONE, local_file, stored_file
from app.api.routes import ERRORS, NOT_FOUND
from app.db.models import Artifact
from app.errors import JobNotFound, NotFound
from app.schemas import ArtifactList, ArtifactRead
from app.settings import Settings
from app.storage import open_store

router = APIRouter(prefix="/api/jobs", tags=["artifacts"])

FILE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file"},
    206: {"description": "Part of the file (a Range request)"},
    **ERRORS,
    **NOT_FOUND,
}


@router.get(
    "/{job_id}/artifacts",
    response_model=ArtifactList,
    responses={**ERRORS, **NOT_FOUND},
    summary="A job's files",
)
async def list_artifacts(job_id: JobIdDep, jobs: JobsDep, artifacts: ArtifactsDep) -> ArtifactList:
    if await jobs.get(job_id) is None:
        raise JobNotFound()
    files = await artifacts.list_for_job(job_id)
    return ArtifactList(artifacts=[ArtifactRead.model_validate(file) for file in files])


@router.get(
    "/{job_id}/video",
    response_class=FileResponse,
    responses=FILE_RESPONSES,
    summary="The finished video",
)
async def get_video(
    job_id: JobIdDep,
    jobs: JobsDep,
    artifacts: ArtifactsDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """The MP4, with `Accept-Ranges: bytes`: browsers seek with Range requests (206)."""
    if await jobs.get(job_id) is None:
        raise JobNotFound()
    artifact = await artifacts.latest(job_id, "video")
    if artifact is None:
        raise NotFound("The job has no video (yet).")
    return await _file(artifact, settings, request)


@router.get(
    "/{job_id}/artifacts/{artifact_id}",
    response_class=FileResponse,
    responses=FILE_RESPONSES,
    summary="One of a job's files",
)
async def get_artifact(
    job_id: JobIdDep,
    artifact_id: Annotated[int, PathParam(ge=1, le=2**62)],
    artifacts: ArtifactsDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    artifact = await artifacts.get(job_id, artifact_id)
    if artifact is None:
        raise NotFound("Artifact not found.")
    return await _file(artifact, settings, request)


async def _file(artifact: Artifact, settings: Settings, request: Request) -> Response:
    """The artifact's file, which must lie inside its own job's folder, `jobs/<job id>/`, and
    still exist (retention may have pruned it). A path to anything else (the database, another
    job's files, a link out of the folder) is answered as a missing file. A stored artifact is
    read from the bucket its row names (app/api/files.py)."""
    name = PurePosixPath(artifact.path).name
    if artifact.store:
        key = PurePosixPath(artifact.path)
        if ".." in key.parts or not key.is_relative_to(f"jobs/{artifact.job_id}"):
            raise NotFound(GONE)
        store = open_store(artifact.store)
        return await stored_file(
            store, key.as_posix(), request, media_type=artifact.mime, filename=name
        )
    job_dir = (settings.jobs_dir / artifact.job_id).resolve()
    path = (settings.data_dir / artifact.path).resolve()
    if not path.is_relative_to(job_dir) or not path.is_file():
        raise NotFound(GONE)
    return local_file(path, media_type=artifact.mime, filename=name)
