"""Clips a reviewer uploads for a storyboard's scene: checked by their content (a video in an
MP4/MOV or WebM/Matroska container, or a JPEG, PNG or WebP picture, that ffprobe can read),
kept beside the job as `jobs/<id>/uploads/<digest><extension>` (in the data folder, or in the
bucket when there is one), and named in the storyboard as `upload:<that name>`."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from app.media import (
    FOOTAGE_CONTAINERS,
    STILL_CONTAINER_NAMES,
    STILL_CONTAINERS,
    VIDEO_CONTAINER_NAMES,
    file_description,
    find_ffprobe,
    read_facts,
    sniff_container,
)
from app.storage import ObjectStore
from app.storyboard import StoryClip

SOURCE = "upload"
UPLOADS_DIR = "uploads"  # in a job's folder (`jobs/<id>/uploads/`), and its bucket prefix
EXTENSIONS = {
    "mov": ".mp4", "matroska": ".mkv", "jpeg_pipe": ".jpg", "png_pipe": ".png",
    "webp_pipe": ".webp",
}  # fmt: skip
NAME_PATTERN = re.compile(r"^[0-9a-f]{16}\.(mp4|mkv|jpg|png|webp)$")
MIME_TYPES = {
    ".mp4": "video/mp4", ".mkv": "video/x-matroska", ".jpg": "image/jpeg", ".png": "image/png",
    ".webp": "image/webp",
}  # fmt: skip
CHUNK_BYTES = 1 << 20
MIN_VIDEO_S = 1.0


class ClipRefused(ValueError):
    """The upload is not a clip that can be shown; the message says why."""


def upload_key(job_id: str, name: str) -> str:
    """Where an upload lives, below the data folder and in the bucket alike."""
    return f"jobs/{job_id}/{UPLOADS_DIR}/{name}"


def uploads_folder(data_dir: Path, job_id: str) -> Path:
    """The folder of a job's uploads on this host."""
    return (data_dir / upload_key(job_id, "-")).parent


def is_upload_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def keep_upload(
    file: BinaryIO, *, filename: str, job_id: str, data_dir: Path, store: ObjectStore | None,
    ffmpeg_exe: str,
) -> StoryClip:  # fmt: skip
    """Check the uploaded `file` and keep it for the job; ClipRefused says why it is not kept.
    Named by its content's digest, so the same clip uploaded twice is kept once."""
    folder = uploads_folder(data_dir, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".incoming-", delete=False) as staging:
        digest = hashlib.sha256()
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
            staging.write(chunk)
    staged = Path(staging.name)
    try:
        clip = _checked(staged, filename=filename, digest=digest.hexdigest(), ffmpeg_exe=ffmpeg_exe)
        if store is not None:
            key, mime = upload_key(job_id, clip.id), MIME_TYPES[Path(clip.id).suffix]
            store.put_file_sync(key, staged, content_type=mime)
        else:
            staged.replace(folder / clip.id)
        return clip
    finally:
        staged.unlink(missing_ok=True)


def _checked(path: Path, *, filename: str, digest: str, ffmpeg_exe: str) -> StoryClip:
    container = sniff_container(path)
    if container not in FOOTAGE_CONTAINERS:
        raise ClipRefused(
            f"{filename or 'the file'} is neither a video ({VIDEO_CONTAINER_NAMES}) nor a picture "
            f"({STILL_CONTAINER_NAMES}) by its content"
        )
    assert container is not None
    facts = read_facts(path, container, ffmpeg_exe=ffmpeg_exe, ffprobe_exe=find_ffprobe(ffmpeg_exe))
    if facts is None:
        raise ClipRefused(f"{filename or 'the file'} cannot be read as a video or a picture")
    still = container in STILL_CONTAINERS
    duration_s = 0.0 if still else facts.duration_s
    if not still and duration_s < MIN_VIDEO_S:
        # A scene loops a short clip: a few frames would take hundreds of decoder runs.
        raise ClipRefused(
            f"{filename or 'the file'} lasts {duration_s:.2f} s; a video must last at least "
            f"{MIN_VIDEO_S:g} s"
        )
    name = digest[:16] + EXTENSIONS[container]
    return StoryClip(
        source=SOURCE, id=name, description=file_description(filename)[:200],
        duration_s=duration_s, width_px=facts.width_px, height_px=facts.height_px,
    )  # fmt: skip


def copy_out(store: ObjectStore | None, *, job_id: str, name: str, data_dir: Path) -> Path:
    """The upload as a file on this host (fetched from the bucket when it is kept there)."""
    path = uploads_folder(data_dir, job_id) / name
    if store is not None and not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        store.download_sync(upload_key(job_id, name), path)
    return path
