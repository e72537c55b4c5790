"""`moneyprinter storage copy --to s3://bucket/prefix`: a data folder's files into a bucket.

Each artifact in the data folder is checked against its row's SHA-256, uploaded under the same
key (`jobs/<job id>/<attempt>/<name>`), and its row then records the bucket, one row at a time:
the API serves every file from where its row says, so the service keeps running throughout,
and a copy that stops (Ctrl-C, a lost connection) is resumed by running it again. A file whose
object is already there at its size is not sent again. The songs and voice samples follow under
`songs/` and `voice-samples/`. Nothing is deleted from the data folder; once the copy is done and
MONEYPRINTER_STORAGE_URL names the bucket, the folder's `jobs/`, `songs/` and `voice-samples/`
can be removed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Artifact
from app.db.repositories import Repositories
from app.db.session import create_sessionmaker, settings_engine
from app.settings import Settings
from app.songs import stored_songs
from app.storage import ObjectStore, sha256_file

BATCH_SIZE = 200


@dataclass
class CopyReport:
    artifacts: int = 0
    songs: int = 0
    voice_samples: int = 0
    already_there: int = 0
    problems: list[str] = field(default_factory=list)

    def describe(self, store: ObjectStore) -> str:
        copied = (
            f"{self.artifacts} job files, {self.songs} songs and {self.voice_samples} voice "
            f"samples are in {store.url} ({self.already_there} were already there)."
        )
        if not self.problems:
            return copied
        listed = "\n".join(f"  {problem}" for problem in self.problems)
        return f"{copied}\n{len(self.problems)} files were left in the data folder:\n{listed}"


async def copy_data_folder(
    settings: Settings, store: ObjectStore, *, progress: Callable[[str], None]
) -> CopyReport:
    """Copy the settings' data folder into `store` (the module's docstring says how)."""
    engine = settings_engine(settings)
    try:
        return await copy_to_bucket(settings, create_sessionmaker(engine), store, progress=progress)
    finally:
        await engine.dispose()


async def copy_to_bucket(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> CopyReport:
    report = CopyReport()
    data_dir = settings.data_dir.resolve()
    after_id = 0
    while True:
        async with sessionmaker() as session:
            batch = await Repositories(session).artifacts.in_data_folder(
                after_id=after_id, limit=BATCH_SIZE
            )
        if not batch:
            break
        for artifact in batch:
            after_id = artifact.id
            problem = await _copy_artifact(artifact, data_dir, store, report)
            if problem is not None:
                report.problems.append(problem)
                continue
            async with sessionmaker.begin() as session:
                await Repositories(session).artifacts.point_at(artifact.id, store.url)
            progress(f"{artifact.path}")
    for song in await asyncio.to_thread(stored_songs, settings.songs_dir):
        await _copy_file(song, f"songs/{song.name}", "audio/mpeg", store, report)
        report.songs += 1
    samples = data_dir / "voice-samples"
    for sample in await asyncio.to_thread(lambda: sorted(samples.glob("*.wav"))):
        await _copy_file(sample, f"voice-samples/{sample.name}", "audio/wav", store, report)
        report.voice_samples += 1
    return report


async def _copy_artifact(
    artifact: Artifact, data_dir: Path, store: ObjectStore, report: CopyReport
) -> str | None:
    """Upload one artifact's file; what kept it from the bucket, or None once it is there."""
    path = await asyncio.to_thread(_local_file, artifact, data_dir)
    if path is None:
        return f"{artifact.path}: not in the data folder (pruned, or moved by hand)"
    if await asyncio.to_thread(sha256_file, path) != artifact.sha256:
        return f"{artifact.path}: its content changed since the job made it (SHA-256 differs)"
    await _copy_file(path, artifact.path, artifact.mime, store, report)
    report.artifacts += 1
    return None


async def _copy_file(
    path: Path, key: str, content_type: str, store: ObjectStore, report: CopyReport
) -> None:
    """Upload unless an object of the same size is already there."""
    there = await store.head(key)
    if there is not None and there.size_bytes == os.stat(path).st_size:
        report.already_there += 1
        return
    await store.put_file(key, path, content_type=content_type)


def _local_file(artifact: Artifact, data_dir: Path) -> Path | None:
    """The artifact's file when it is one inside its job's folder, as the API would serve it."""
    path = (data_dir / artifact.path).resolve()
    inside = path.is_relative_to(data_dir / "jobs" / artifact.job_id)
    return path if inside and path.is_file() else None
