"""What a worker moves between its scratch folder and the bucket.

With a bucket configured (MONEYPRINTER_STORAGE_URL=s3://…) a worker renders in its own data
folder: it copies the job's song in first, uploads what the job made before it records the job
as completed, and then deletes its scratch copy; the API, on another host, serves the files from
the bucket. Without one, the scratch folder is the data folder and the files stay where they
were made. A job's stage records go to the bucket as the child makes them, and come back to
the worker that runs its next attempt, wherever it is. Only the worker itself talks to the
bucket: the pipeline's child process gets no credentials (worker/runner.py, CHILD_ENV_NAMES).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.db.models import Artifact
from app.domain import VideoSpec
from app.errors import NotFound
from app.songs import BucketSongs
from app.storage import ObjectStore, StorageError, open_store
from worker.errors import PipelineError
from worker.pipeline.music import song_name
from worker.pipeline.stages import Record, StageStore

logger = logging.getLogger(__name__)


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


# -- a job's stage records, for a worker on another host ---------------------------------------

# A render stays on its host: copying every video up twice (here and as the result) would cost
# more than the rare retry elsewhere that renders again.
HOST_ONLY_STAGES = frozenset({"render"})


def stages_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/stages"


async def push_stage(store: ObjectStore, stages_dir: Path, job_id: str, stage: str) -> None:
    """Copy a stage's record (worker/pipeline/stages.py) and its files to the bucket: the files
    first, the record last, so a worker that finds the record finds its files; then the files of
    the stage's older records go. StorageError when an upload fails."""
    if stage in HOST_ONLY_STAGES:
        return
    prefix = stages_prefix(job_id)
    record = await asyncio.to_thread(StageStore(stages_dir).record, stage)
    if record is None:
        return  # gone meanwhile: the next save pushes again
    for path in record.files:
        await store.put_file(
            f"{prefix}/{path}", stages_dir / path, content_type="application/octet-stream"
        )
    with tempfile.TemporaryDirectory(dir=stages_dir) as scratch:
        copy = Path(scratch) / "record.json"
        await asyncio.to_thread(copy.write_text, record.text, "utf-8")  # as read: it may change
        await store.put_file(f"{prefix}/{stage}.json", copy, content_type="application/json")
    older = [
        found.key for found in await store.list_objects(f"{prefix}/{stage}")
        if not found.key.startswith(f"{prefix}/{record.folder}/")
    ]  # fmt: skip
    if older:
        await store.delete(older)


async def pull_stages(store: ObjectStore, stages_dir: Path, job_id: str) -> list[str]:
    """Copy into `stages_dir` the job's stage records in the bucket that this host lacks (or holds
    for other inputs), each with its files; the stages copied. A record that cannot be copied is
    skipped with a warning: its stage runs again."""
    prefix = stages_prefix(job_id)
    try:
        objects = await store.list_objects(prefix)
    except StorageError as exc:
        logger.warning("stages of job %s: %s", job_id, exc)
        return []
    pulled = []
    for found in objects:
        stage = found.key.removeprefix(f"{prefix}/").removesuffix(".json")
        if not found.key.endswith(".json") or "/" in stage:
            continue
        try:
            if await asyncio.to_thread(_pull_record, store, prefix, stages_dir, stage):
                pulled.append(stage)
        except (StorageError, OSError, ValueError) as exc:
            logger.warning("stages of job %s: %s not copied: %s", job_id, stage, exc)
    return pulled


def _pull_record(store: ObjectStore, prefix: str, stages_dir: Path, stage: str) -> bool:
    stages_dir.mkdir(parents=True, exist_ok=True)
    local = StageStore(stages_dir).record(stage)
    with tempfile.TemporaryDirectory(dir=stages_dir) as scratch:
        copy = Path(scratch) / "record.json"
        store.download_sync(f"{prefix}/{stage}.json", copy)
        record = Record.parse(stage, copy.read_text("utf-8"))
        if local is not None and local.key == record.key:
            return False  # this host has it
        for path in record.files:
            (stages_dir / path).parent.mkdir(parents=True, exist_ok=True)
            store.download_sync(f"{prefix}/{path}", stages_dir / path)
        os.replace(copy, stages_dir / f"{stage}.json")
    return True
