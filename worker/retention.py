"""Retention: finished jobs past the retention age are deleted in batches, then their folders;
folders left without a job (a crash between the two) are swept up as well."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import utcnow
from app.db.repositories import JobRepository
from app.settings import Settings

logger = logging.getLogger("worker.retention")

DEFAULT_BATCH_SIZE = 500
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
    their events, artifacts and folders, and old orphan folders. Returns how many jobs went.

    Each batch is its own short transaction, and its folders are removed only after it commits:
    a crash in between leaves folders without a job (removed by a later run), never a job whose
    files are gone. `retention_days` 0 keeps everything.
    """
    if settings.retention_days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    jobs_dir = settings.jobs_dir
    pruned = batches = 0
    while True:
        async with sessionmaker.begin() as session:
            job_ids = await JobRepository(session).prune_finished(before=cutoff, limit=batch_size)
        await asyncio.to_thread(remove_folders, [jobs_dir / job_id for job_id in job_ids])
        pruned += len(job_ids)
        batches += 1
        logger.debug("retention: batch %d deleted %d job(s)", batches, len(job_ids))
        # A short batch means nothing was left (or a concurrent pruner holds the rest).
        if len(job_ids) < batch_size:
            break
    orphans = await _prune_orphan_folders(
        sessionmaker, jobs_dir, cutoff=cutoff, batch_size=batch_size
    )
    logger.log(
        logging.INFO if pruned or orphans else logging.DEBUG,
        "retention: pruned %d finished job(s) that ended before %s, and %d orphan folder(s)",
        pruned,
        cutoff.isoformat(timespec="seconds"),
        orphans,
    )
    return pruned


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
