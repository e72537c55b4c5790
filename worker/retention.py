"""Retention: finished jobs past the retention age are deleted in batches, then their folders and
their objects in the bucket; folders and objects left without a job (a crash between the two) are
swept up as well, and so are the bucket's uploads that a lost worker left unfinished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import utcnow
from app.db.repositories import BatchRepository, JobRepository
from app.settings import Settings
from app.storage import ObjectStore, StorageError
from worker import cache

logger = logging.getLogger("worker.retention")

DEFAULT_BATCH_SIZE = 500
MB = 1024 * 1024
DAY_S = 86_400.0
# An upload begun this long ago and not finished is one whose worker was lost.
UPLOAD_AGE_LIMIT = timedelta(days=1)
# Two pruners can remove the same orphan folder at once; each then trips over the other's deletions.
RMTREE_ATTEMPTS = 3


async def prune_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Delete the finished jobs that ended more than `settings.retention_days` before `now`, with
    their events, artifacts and folders, old orphan folders, and old batches left without jobs.
    Returns how many jobs went.

    Each batch is its own short transaction, and its folders are removed only after it commits:
    a crash in between leaves folders without a job (removed by a later run), never a job whose
    files are gone. `retention_days` 0 keeps everything.
    """
    if settings.retention_days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    jobs_dir = settings.jobs_dir
    store = settings.object_store
    pruned = batches = 0
    while True:
        async with sessionmaker.begin() as session:
            job_ids = await JobRepository(session).prune_finished(before=cutoff, limit=batch_size)
        await asyncio.to_thread(remove_folders, [jobs_dir / job_id for job_id in job_ids])
        if store is not None:
            await _delete_stored(store, job_ids)
        pruned += len(job_ids)
        batches += 1
        logger.debug("retention: batch %d deleted %d job(s)", batches, len(job_ids))
        # A short batch means nothing was left (or a concurrent pruner holds the rest).
        if len(job_ids) < batch_size:
            break
    async with sessionmaker.begin() as session:
        await BatchRepository(session).prune_empty(before=cutoff)
    orphans = await _prune_orphan_folders(
        sessionmaker, jobs_dir, cutoff=cutoff, batch_size=batch_size
    )
    if store is not None:
        orphans += await _prune_orphan_prefixes(sessionmaker, store, cutoff=cutoff)
        await _abort_unfinished_uploads(store, begun_before=(now or utcnow()) - UPLOAD_AGE_LIMIT)
    logger.log(
        logging.INFO if pruned or orphans else logging.DEBUG,
        "retention: pruned %d finished job(s) that ended before %s, and %d orphan folder(s)",
        pruned,
        cutoff.isoformat(timespec="seconds"),
        orphans,
    )
    return pruned


async def prune_cache(settings: Settings) -> int:
    """Prune the host's cache (worker/cache.py) to MONEYPRINTER_CACHE_MAX_MB, and of what no job
    used within the retention age (when there is one); 0 MB (the cache off) empties it. Returns
    how many files went."""
    return await asyncio.to_thread(
        cache.prune,
        settings.cache_dir,
        max_bytes=settings.cache_max_mb * MB,
        max_age_s=settings.retention_days * DAY_S,
    )


async def _prune_orphan_folders(
    sessionmaker: async_sessionmaker[AsyncSession],
    jobs_dir: Path,
    *,
    cutoff: datetime,
    batch_size: int,
) -> int:
    """Remove job folders older than `cutoff` whose job is not in the table. A folder is only
    created for a claimed job, so one without a row will never get one."""
    candidates = await asyncio.to_thread(_old_job_folders, jobs_dir, cutoff)
    removed = 0
    for start in range(0, len(candidates), batch_size):
        chunk = candidates[start : start + batch_size]
        async with sessionmaker() as session:
            known = await JobRepository(session).existing_ids([path.name for path in chunk])
        orphans = [path for path in chunk if path.name not in known]
        removed += await asyncio.to_thread(remove_folders, orphans)
    return removed


async def _delete_stored(store: ObjectStore, job_ids: Sequence[str]) -> None:
    """Delete the jobs' objects (`jobs/<id>/…`); what fails is left to the orphan sweep."""
    for job_id in job_ids:
        try:
            await store.delete_prefix(f"jobs/{job_id}")
        except StorageError as exc:
            logger.warning("retention: %s", exc)


async def _prune_orphan_prefixes(
    sessionmaker: async_sessionmaker[AsyncSession], store: ObjectStore, *, cutoff: datetime
) -> int:
    """Delete the objects of jobs that are no longer in the table, once the newest of them is
    older than `cutoff` (an upload in progress for a job is never older)."""
    try:
        job_ids = [name for name in await store.folders("jobs") if _is_job_id(name)]
        known: set[str] = set()
        for start in range(0, len(job_ids), DEFAULT_BATCH_SIZE):
            async with sessionmaker() as session:
                chunk = job_ids[start : start + DEFAULT_BATCH_SIZE]
                known |= await JobRepository(session).existing_ids(chunk)
        removed = 0
        for job_id in job_ids:
            if job_id in known:
                continue
            objects = await store.list_objects(f"jobs/{job_id}")
            if objects and max(found.modified_at for found in objects) < cutoff:
                await store.delete([found.key for found in objects])
                removed += 1
        return removed
    except StorageError as exc:
        logger.warning("retention: %s", exc)
        return 0


async def _abort_unfinished_uploads(store: ObjectStore, *, begun_before: datetime) -> None:
    try:
        aborted = await asyncio.to_thread(store.abort_unfinished_uploads, begun_before=begun_before)
    except StorageError as exc:
        logger.warning("retention: %s", exc)
        return
    if aborted:
        logger.info("retention: aborted %d unfinished upload(s) in %s", aborted, store.url)


def _old_job_folders(jobs_dir: Path, cutoff: datetime) -> list[Path]:
    """Folders under `jobs_dir` named like a job id and last modified before `cutoff`. Anything
    else there (a symlink, a file, a folder of the operator's) is not ours to delete."""
    cutoff_ts = cutoff.timestamp()
    old: list[Path] = []
    try:
        with os.scandir(jobs_dir) as entries:
            for entry in entries:
                if not _is_job_id(entry.name):
                    continue
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff_ts:
                        old.append(Path(entry.path))
                except FileNotFoundError:
                    continue  # removed meanwhile
    except FileNotFoundError:
        return []  # no job has run yet
    return old


def _is_job_id(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def remove_folders(paths: Sequence[Path]) -> int:
    """Delete each folder with its contents; a missing one is fine, one that cannot be deleted is
    logged and left (a later run retries it as an orphan). Returns how many this call removed."""
    return sum(_remove_tree(path) for path in paths)


def remove_scratch(job_dir: Path, attempt: int) -> None:
    """Delete an attempt's folder on a worker whose files go to a bucket, and the job's folder
    once no attempt is left in it."""
    _remove_tree(job_dir / str(attempt))
    with contextlib.suppress(OSError):  # another attempt's folder is still there, or none was
        job_dir.rmdir()


def _remove_tree(path: Path) -> bool:
    for _ in range(RMTREE_ATTEMPTS):
        try:
            shutil.rmtree(path)
            return True
        except FileNotFoundError:
            # Gone altogether, or something inside vanished under a concurrent pruner: retry.
            if not os.path.lexists(path):
                return False
        except OSError as exc:
            logger.warning("retention: could not remove %s: %s", path, exc)
            return False
    logger.warning("retention: %s kept changing while being removed; left for later", path)
    return False
