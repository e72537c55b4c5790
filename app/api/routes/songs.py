"""The music library: upload MP3s, list them, play one, delete one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import FileResponse

from app.api.deps import SongLibraryDep
from app.api.routes import ERRORS, NOT_FOUND
from app.schemas import ErrorResponse, MessageResponse, SongList, SongRead, UploadResponse
from app.songs import IncomingSong

router = APIRouter(prefix="/api", tags=["songs"])


@router.post(
    "/upload-songs",
    response_model=UploadResponse,
    responses={
        **ERRORS,
        413: {"model": ErrorResponse, "description": "A file or the request is too large"},
    },
    summary="Upload songs (MP3)",
)
async def upload_songs(
    songs: Annotated[list[UploadFile], File(description="MP3 files")],
    library: SongLibraryDep,
) -> UploadResponse:
    """Add MP3 files to the library. Files are checked by their content and size; when any file
    is refused, none is stored, and the library is never emptied first."""
    incoming = [
        IncomingSong(filename=upload.filename or "", file=upload.file, size_bytes=upload.size or 0)
        for upload in songs
    ]
    stored = await asyncio.to_thread(library.add_all, incoming)
    return UploadResponse(message=f"Uploaded {len(stored)} song(s).", songs=stored)


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
async def get_song(name: str, library: SongLibraryDep) -> FileResponse:
    """The MP3 itself, with `Accept-Ranges: bytes` so a browser's player can seek."""
    path = await asyncio.to_thread(library.path_of, name)
    return FileResponse(
        path, media_type="audio/mpeg", filename=name, content_disposition_type="inline"
    )


@router.delete(
    "/songs/{name}",
    response_model=MessageResponse,
    responses={**ERRORS, **NOT_FOUND},
    summary="Delete a song",
)
async def delete_song(name: str, library: SongLibraryDep) -> MessageResponse:
    await asyncio.to_thread(library.delete, name)
    return MessageResponse(message=f"Deleted {name}.")
