"""Retention on both databases, with real folders: old finished jobs go with their events,
artifacts and folders, in batches; young, queued and running jobs stay; orphan folders are swept;
concurrent pruners share the work; `moneyprinter prune` does it from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.models import Artifact, Batch, GenerationEvent, GenerationJob, utcnow
from app.db.repositories import Repositories
from app.settings import Settings
from tests.support.processes import moneyprinter_command
from worker import cli
from worker.main import Worker
from worker.retention import prune_expired

Maker = async_sessionmaker[AsyncSession]

OLD_DAYS = 40  # past the default 30 days
YOUNG_DAYS = 5


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def job_folder(settings: Settings, job_id: str) -> Path:
    return settings.jobs_dir / job_id


def make_folder(path: Path, *, age_days: float) -> Path:
    """A job-like folder (`<id>/1/video.mp4`) last modified `age_days` ago."""
    (path / "1").mkdir(parents=True)
    (path / "1" / "video.mp4").write_bytes(b"not really a video")
    stamp = days_ago(age_days).timestamp()
    for folder in (path / "1", path):
        os.utime(folder, (stamp, stamp))
    return path


async def make_job(
    maker: Maker,
    settings: Settings,
    *,
    status: str,
    age_days: float,
    completed_at: bool = True,
) -> str:
    """A job in `status` whose last change (and completion, when `completed_at`) was `age_days`
    ago, with an event, an artifact and a folder on disk."""
    when = days_ago(age_days)
    async with maker.begin() as session:
        repository = Repositories(session)
        job = await repository.jobs.create(payload={"videoSubject": "tides"})
        await repository.artifacts.add(
            job.id,
            kind="video",
            path=f"jobs/{job.id}/1/video.mp4",
            size_bytes=18,
            sha256="0" * 64,
            mime="video/mp4",
        )
        await session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == job.id)
            .values(
                status=status,
                created_at=when,
                updated_at=when,
                completed_at=when if completed_at else None,
            )
        )
    make_folder(job_folder(settings, job.id), age_days=age_days)
    return job.id


async def job_ids(maker: Maker) -> set[str]:
    async with maker() as session:
        return set((await session.scalars(select(GenerationJob.id))).all())


async def rows_of(maker: Maker, job_id: str) -> tuple[int, int]:
    """How many events and artifacts the job has."""
    async with maker() as session:
        events = await session.scalar(select(func.count()).where(GenerationEvent.job_id == job_id))
        artifacts = await session.scalar(select(func.count()).where(Artifact.job_id == job_id))
    return int(events or 0), int(artifacts or 0)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[dict[str, int]]:
    """Counts the DELETEs of jobs and the commits the engine runs meanwhile."""
    counts = {"deletes": 0, "commits": 0}

    def on_execute(*args: Any) -> None:
        statement = args[2]
        if "DELETE FROM generation_jobs" in statement:
            counts["deletes"] += 1

    def on_commit(_connection: Any) -> None:
        counts["commits"] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
        event.remove(engine.sync_engine, "commit", on_commit)


async def test_old_finished_jobs_go_with_their_events_artifacts_and_folders(
    settings: Settings, sessionmaker: Maker
) -> None:
    old = [
        await make_job(sessionmaker, settings, status=status, age_days=OLD_DAYS)
        for status in ("completed", "failed", "cancelled")
    ]
    # No completed_at (never set by some path): the last update decides.
    old.append(
        await make_job(
            sessionmaker, settings, status="cancelled", age_days=OLD_DAYS, completed_at=False
        )
    )
    kept = [
        await make_job(sessionmaker, settings, status="completed", age_days=YOUNG_DAYS),
        await make_job(sessionmaker, settings, status="failed", age_days=29),
        # Active jobs are never pruned, however old their timestamps.
        await make_job(sessionmaker, settings, status="queued", age_days=400),
        await make_job(sessionmaker, settings, status="running", age_days=400),
    ]

    pruned = await prune_expired(sessionmaker, settings)

    assert pruned == len(old)
    assert await job_ids(sessionmaker) == set(kept)
    for job_id in old:
        assert await rows_of(sessionmaker, job_id) == (0, 0)
        assert not job_folder(settings, job_id).exists()
    for job_id in kept:
        assert await rows_of(sessionmaker, job_id) == (1, 1)
        assert (job_folder(settings, job_id) / "1" / "video.mp4").is_file()
    assert await prune_expired(sessionmaker, settings) == 0


async def test_jobs_are_pruned_in_batches_each_its_own_transaction(
    settings: Settings, sessionmaker: Maker, engine: AsyncEngine
) -> None:
    old = {
        await make_job(sessionmaker, settings, status="completed", age_days=OLD_DAYS)
        for _ in range(7)
    }

    with counting(engine) as counts:
        pruned = await prune_expired(sessionmaker, settings, batch_size=3)

    assert pruned == 7
    assert counts == {"deletes": 3, "commits": 4}  # 3 + 3 + 1, then the batches left empty
    assert await job_ids(sessionmaker) == set()
    assert not any(job_folder(settings, job_id).exists() for job_id in old)


async def test_an_old_batch_goes_once_its_jobs_have_gone(
    settings: Settings, sessionmaker: Maker
) -> None:
    async with sessionmaker.begin() as session:
        batches = Repositories(session).batches
        for batch_id in ("emptied", "still-queued"):
            await batches.create(batch_id=batch_id, title="", priority=-1, jobs=[])
        await session.execute(update(Batch).values(created_at=days_ago(OLD_DAYS)))
        queued = await Repositories(session).jobs.create(payload={}, batch_id="still-queued")

    await prune_expired(sessionmaker, settings)

    async with sessionmaker() as session:
        assert (await session.scalars(select(Batch.id))).all() == ["still-queued"]
        assert await Repositories(session).jobs.get(queued.id) is not None


async def test_the_repository_deletes_at_most_the_limit(
    settings: Settings, sessionmaker: Maker
) -> None:
    old = {
        await make_job(sessionmaker, settings, status="failed", age_days=OLD_DAYS) for _ in range(5)
    }
    cutoff = days_ago(30)

    async with sessionmaker.begin() as session:
        first = await Repositories(session).jobs.prune_finished(before=cutoff, limit=3)
    async with sessionmaker.begin() as session:
        rest = await Repositories(session).jobs.prune_finished(before=cutoff, limit=3)

    assert len(first) == 3 and len(rest) == 2
    assert set(first) | set(rest) == old


async def test_now_moves_the_cutoff(settings: Settings, sessionmaker: Maker) -> None:
    job_id = await make_job(sessionmaker, settings, status="completed", age_days=YOUNG_DAYS)

    assert await prune_expired(sessionmaker, settings) == 0
    assert await prune_expired(sessionmaker, settings, now=utcnow() + timedelta(days=26)) == 1
    assert job_id not in await job_ids(sessionmaker)


async def test_old_orphan_folders_are_removed_and_everything_else_kept(
    settings: Settings, sessionmaker: Maker
) -> None:
    old_orphan = make_folder(settings.jobs_dir / str(uuid.uuid4()), age_days=OLD_DAYS)
    young_orphan = make_folder(settings.jobs_dir / str(uuid.uuid4()), age_days=YOUNG_DAYS)
    not_a_job = make_folder(settings.jobs_dir / "keep-me", age_days=OLD_DAYS)
    running_id = await make_job(sessionmaker, settings, status="running", age_days=OLD_DAYS)

    pruned = await prune_expired(sessionmaker, settings)

    assert pruned == 0
    assert not old_orphan.exists()
    assert young_orphan.is_dir()
    assert not_a_job.is_dir()
    assert job_folder(settings, running_id).is_dir()


async def test_zero_days_keeps_everything(settings: Settings, sessionmaker: Maker) -> None:
    forever = settings.model_copy(update={"retention_days": 0})
    job_id = await make_job(sessionmaker, forever, status="completed", age_days=4000)
    orphan = make_folder(forever.jobs_dir / str(uuid.uuid4()), age_days=4000)

    assert await prune_expired(sessionmaker, forever) == 0

    assert job_id in await job_ids(sessionmaker)
    assert job_folder(forever, job_id).is_dir() and orphan.is_dir()


async def test_concurrent_pruners_delete_each_job_once_and_both_finish(
    settings: Settings, sessionmaker: Maker
) -> None:
    old = {
        await make_job(sessionmaker, settings, status="completed", age_days=OLD_DAYS)
        for _ in range(12)
    }
    young = await make_job(sessionmaker, settings, status="completed", age_days=YOUNG_DAYS)

    async with asyncio.timeout(60):
        counts = await asyncio.gather(
            prune_expired(sessionmaker, settings, batch_size=2),
            prune_expired(sessionmaker, settings, batch_size=2),
        )

    assert sum(counts) == len(old)
    assert await job_ids(sessionmaker) == {young}
    assert not any(job_folder(settings, job_id).exists() for job_id in old)


async def test_a_worker_prunes_every_interval(settings: Settings, sessionmaker: Maker) -> None:
    job_id = await make_job(sessionmaker, settings, status="completed", age_days=OLD_DAYS)
    worker = Worker(settings.model_copy(update={"retention_interval_s": 0.05}), sessionmaker)
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            while job_id in await job_ids(sessionmaker):
                await asyncio.sleep(0.05)
    finally:
        worker.stop(now=True)
        await running

    assert not job_folder(settings, job_id).exists()


def moneyprinter(
    *args: str, settings: Settings, database_url: str, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/moneyprinter <args>` on the test's database and data folder."""
    command = moneyprinter_command()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPRINTER_")}
    env = {
        **inherited,
        "DATABASE_URL": database_url,
        "MONEYPRINTER_DATA_DIR": str(settings.data_dir),
        **env_vars,
    }
    return subprocess.run(
        [*command, *args],
        cwd=settings.data_dir.parent,  # no stray .env
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_prune_command(
    settings: Settings, sessionmaker: Maker, database_url: str
) -> None:
    old_id = await make_job(sessionmaker, settings, status="completed", age_days=OLD_DAYS)
    young_id = await make_job(sessionmaker, settings, status="failed", age_days=YOUNG_DAYS)
    queued_id = await make_job(sessionmaker, settings, status="queued", age_days=OLD_DAYS)

    def run(*args: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
        return moneyprinter(*args, settings=settings, database_url=database_url, **env_vars)

    default = await asyncio.to_thread(run, "prune")
    assert default.returncode == 0, default.stderr
    assert default.stdout.splitlines()[-1] == "Pruned 1 finished job(s) older than 30 day(s)."
    assert await job_ids(sessionmaker) == {young_id, queued_id}
    assert not job_folder(settings, old_id).exists()

    override = await asyncio.to_thread(run, "prune", "--older-than-days", "1.5")
    assert override.returncode == 0, override.stderr
    assert override.stdout.splitlines()[-1] == "Pruned 1 finished job(s) older than 1.5 day(s)."
    assert await job_ids(sessionmaker) == {queued_id}
    assert not job_folder(settings, young_id).exists()


# In-process (each `moneyprinter` start costs seconds): neither case reaches the database.


def test_the_prune_command_with_retention_off_prunes_only_the_cache_to_its_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONEYPRINTER_DATA_DIR", "data")
    monkeypatch.setenv("MONEYPRINTER_RETENTION_DAYS", "0")
    monkeypatch.setenv("MONEYPRINTER_CACHE_MAX_MB", "1")
    clips = tmp_path / "data" / "cache" / "footage"
    clips.mkdir(parents=True)
    (clips / "older.mp4").write_bytes(bytes(700_000))
    os.utime(clips / "older.mp4", (1_000_000, 1_000_000))  # used long ago
    (clips / "newer.mp4").write_bytes(bytes(700_000))

    assert cli.main(["prune"]) == 0

    assert capsys.readouterr().out == (
        "Removed 1 file(s) from the cache (data/cache).\n"
        "Retention is off (MONEYPRINTER_RETENTION_DAYS=0): no job pruned.\n"
    )
    assert sorted(path.name for path in clips.iterdir()) == ["newer.mp4"]


@pytest.mark.parametrize("days", ["0", "-3", "nan", "soon"])
def test_the_prune_command_refuses_a_bad_age(
    days: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["prune", "--older-than-days", days])

    assert exit_info.value.code == 2
    assert "--older-than-days" in capsys.readouterr().err
