"""The music library: upload MP3s, list them, play one, delete one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from app.api.deps import SettingsDep, SongLibraryDep
from app.api.files import local_file, stored_file
from app.api.routes import ERRORS, NOT_FOUND
from app.schemas import (
    ErrorResponse,
    MessageResponse,
    SkippedFileRead,
    SongList,
    SongRead,
    UploadRefused,
    UploadResponse,
)
from app.songs import BucketSongs, IncomingSong

router = APIRouter(prefix="/api", tags=["songs"])


@router.post(
    "/upload-songs",
    response_model=UploadResponse,
    responses={
        **ERRORS,
        400: {
            "model": UploadRefused | ErrorResponse,
            "description": "No file was stored (`skipped` says why for each), or no files came",
        },
        413: {"model": ErrorResponse, "description": "The request is too large"},
    },
    summary="Upload songs (MP3)",
)
async def upload_songs(
    songs: Annotated[list[UploadFile], File(description="MP3 files; other files are skipped")],
    library: SongLibraryDep,
    settings: SettingsDep,
) -> UploadResponse | JSONResponse:
    """Add the MP3 files to the library, each on its own: a file is stored when its content is
    MP3 audio from its first byte (re-muxed to a clean MP3, tags dropped) and it is small enough;
    every other file is skipped with its reason. 200 when at least one was stored, else 400 with
    the reasons. A file's folder (`songs/a.mp3` from a folder upload) is ignored, and the library
    is never emptied first."""
    incoming = [
        IncomingSong(filename=upload.filename or "", file=upload.file, size_bytes=upload.size or 0)
        for upload in songs
    ]
    outcome = await asyncio.to_thread(library.add_each, incoming, ffmpeg_exe=settings.ffmpeg_exe)
    skipped = [SkippedFileRead.model_validate(file) for file in outcome.skipped]
    if not outcome.stored:
        refused = UploadRefused(message=outcome.message(), skipped=skipped)
        return JSONResponse(refused.model_dump(mode="json", by_alias=True), status_code=400)
    return UploadResponse(message=outcome.message(), songs=outcome.stored, skipped=skipped)


@router.get("/songs", response_model=SongList, responses={**ERRORS}, summary="List songs")
async def list_songs(library: SongLibraryDep) -> SongList:
    songs = await asyncio.to_thread(library.songs)
    return SongList(songs=[SongRead.model_validate(song) for song in songs])


@router.get(
    "/songs/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/mpeg": {}}, "description": "The MP3"},
        206: {"description": "Part of the file (a Range request)"},
        **ERRORS,
        **NOT_FOUND,
    },
    summary="Play a song",
)
async def get_song(name: str, library: SongLibraryDep, request: Request) -> Response:
    """The MP3 itself, with `Accept-Ranges: bytes` so a browser's player can seek."""
    if isinstance(library, BucketSongs):
        key = await asyncio.to_thread(library.key_of, name)
        return await stored_file(
            library.store, key, request, media_type="audio/mpeg", filename=name
        )
    path = await asyncio.to_thread(library.path_of, name)
    return local_file(path, media_type="audio/mpeg", filename=name)


@router.delete(
    "/songs/{name}",
    response_model=MessageResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Delete a song",
)
async def delete_song(name: str, library: SongLibraryDep) -> MessageResponse:
    await asyncio.to_thread(library.delete, name)
    return MessageResponse(message=f"Deleted {name}.")
