"""What a worker moves between its scratch folder and the bucket.

With a bucket configured (MONEYPRINTER_STORAGE_URL=s3://…) a worker renders in its own data
folder: it copies the job's song in first, uploads what the job made before it records the job
as completed, and then deletes its scratch copy; the API, on another host, serves the files from
the bucket. Without one, the scratch folder is the data folder and the files stay where they
were made. Only the worker itself talks to the bucket: the pipeline's child process gets no
credentials (worker/runner.py, CHILD_ENV_NAMES).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.db.models import Artifact
from app.domain import VideoSpec
from app.errors import NotFound
from app.songs import BucketSongs
from app.storage import ObjectStore, open_store
from worker.errors import PipelineError
from worker.pipeline.music import song_name


@dataclass(frozen=True)
class Stored:
    files: int
    size_bytes: int
    elapsed_s: float

    def describe(self, store: ObjectStore) -> str:
        size_mb = self.size_bytes / 1_000_000
        return (
            f"Stored {self.files} files ({size_mb:.1f} MB) in {store.url}: {self.elapsed_s:.2f} s."
        )


async def store_outputs(
    store: ObjectStore, artifacts: list[dict[str, Any]], *, data_dir: Path
) -> Stored:
    """Upload each artifact (`ArtifactRepository.add` arguments, paths relative to `data_dir`)
    to the same key in `store`, all at once, and mark it as stored there. StorageError when any
    upload fails: the job is then retried, and the keys it wrote are the attempt's own."""
    started = time.monotonic()
    root = await asyncio.to_thread(data_dir.resolve)
    await asyncio.gather(
        *(
            store.put_file(artifact["path"], root / artifact["path"], content_type=artifact["mime"])
            for artifact in artifacts
        )
    )
    for artifact in artifacts:
        artifact["store"] = store.url
    size = sum(int(artifact["size_bytes"]) for artifact in artifacts)
    return Stored(len(artifacts), size, time.monotonic() - started)


async def stage_song(store: ObjectStore, spec: VideoSpec, folder: Path) -> None:
    """Copy the song the job will play from the bucket into `folder`, the songs folder its child
    process sees: the one it names, or the one music picks by the job's seed. Nothing is copied
    when there is none; the pipeline then says so as it would with an empty folder."""
    library = BucketSongs(store)
    names = [] if spec.song else await asyncio.to_thread(library.names)
    name = song_name(names, requested=spec.song, use_music=spec.use_music, seed=spec.video_subject)
    if name is None:
        return
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    with contextlib.suppress(NotFound):  # the pipeline fails the job, naming the song
        await asyncio.to_thread(library.local_copy, name, folder)


async def local_file_of(artifact: Artifact, *, data_dir: Path, scratch: Path) -> Path:
    """A file of the artifact on this host: in the data folder, or copied from its bucket into
    `scratch` (which the worker removes when the job ends)."""
    if not artifact.store:
        return data_dir / artifact.path
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    destination = scratch / PurePosixPath(artifact.path).name
    store = open_store(artifact.store)
    try:
        await asyncio.to_thread(store.download_sync, artifact.path, destination)
    except FileNotFoundError:
        message = f"The {artifact.kind} file is no longer in {store.url}."
        raise PipelineError(message, retryable=False) from None
    return destination
