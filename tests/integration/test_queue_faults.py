"""The queue under faults, with real worker processes (docs/architecture.md, "The queue's
guarantees"): exactly-once over 300 jobs and three workers, a SIGKILLed worker's job taken over, a
paused (zombie) worker fenced out, and the database going away under the workers.

Workers run as `python -m tests.support.probe_worker`: the real CLI and Worker, with one more
in-loop job kind (`probe`) that records each run in a table whose key is job id + attempt. Most
tests shorten the timings (heartbeat 1 s, lease 3 s); one checks the default bound (≤ 45 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.migrations import upgrade_to_head
from app.db.models import GenerationEvent, GenerationJob, WorkerRecord
from app.db.repositories import Repositories
from app.db.session import create_engine, create_sessionmaker
from app.domain import VideoSpec
from app.settings import Settings
from tests.support.probe_worker import PROBE_TABLE
from tests.support.processes import free_port
from tests.support.workers import FAST, WorkerProcess

Maker = async_sessionmaker[AsyncSession]

DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
# About 25 s of narration: a draft render long enough to be killed in the middle of.
MEDIUM_SCRIPT = " ".join(
    f"Fact number {n}: the octopus keeps surprising the people who study it." for n in range(8)
)


@pytest.fixture
async def probe_table(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(PROBE_TABLE))


async def queue_probes(maker: Maker, count: int, **payload: Any) -> list[str]:
    async with maker.begin() as session:
        repository = Repositories(session)
        jobs = [await repository.jobs.create(kind="probe", payload=payload) for _ in range(count)]
    return [job.id for job in jobs]


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str = "condition"
) -> float:
    """Poll `check` until it holds; returns the seconds it took."""
    started_s = time.monotonic()
    while not await check():
        if time.monotonic() - started_s > timeout_s:
            raise TimeoutError(f"{what}: not true after {timeout_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started_s


async def wait_registered(maker: Maker, count: int, timeout_s: float = 60.0) -> None:
    async def registered() -> bool:
        async with maker() as session:
            return await session.scalar(select(func.count()).select_from(WorkerRecord)) == count

    await wait_for(registered, timeout_s=timeout_s, what=f"{count} workers registered")


async def count_by_status(maker: Maker) -> dict[str, int]:
    async with maker() as session:
        rows = await session.execute(
            select(GenerationJob.status, func.count()).group_by(GenerationJob.status)
        )
        return {status: count for status, count in rows}


async def wait_drained(maker: Maker, total: int, *, timeout_s: float) -> None:
    async def drained() -> bool:
        return (await count_by_status(maker)).get("completed", 0) == total

    await wait_for(drained, timeout_s=timeout_s, what=f"{total} jobs completed")


async def read_job(maker: Maker, job_id: str) -> GenerationJob:
    async with maker() as session:
        job = await Repositories(session).jobs.get(job_id)
    assert job is not None
    return job


async def probe_runs(maker: Maker) -> list[tuple[str, int, str]]:
    async with maker() as session:
        rows = await session.execute(
            text("SELECT job_id, attempt, worker_id FROM probe_runs ORDER BY job_id, attempt")
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def events(maker: Maker, job_id: str) -> list[GenerationEvent]:
    async with maker() as session:
        return list(await Repositories(session).events.list_after(job_id))


def group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


# -- exactly once ------------------------------------------------------------------------------


async def test_three_workers_with_two_slots_run_each_of_300_jobs_exactly_once(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker, probe_table: None
) -> None:
    workers = [spawn(concurrency=2) for _ in range(3)]
    await wait_registered(sessionmaker, 3)

    job_ids = await queue_probes(sessionmaker, 300, sleepS=0.02)
    await wait_drained(sessionmaker, 300, timeout_s=180)

    runs = await probe_runs(sessionmaker)
    assert sorted(job_id for job_id, _, _ in runs) == sorted(job_ids)  # each once, none missing
    assert {attempt for _, attempt, _ in runs} == {1}
    assert {worker_id.split(":")[1] for _, _, worker_id in runs} == {
        str(worker.pid) for worker in workers
    }  # all three took part
    assert await count_by_status(sessionmaker) == {"completed": 300}
    for worker in workers:
        assert worker.stop() == 0, worker.log()[-2000:]
    async with sessionmaker() as session:  # each stopped worker removed itself
        assert await session.scalar(select(func.count()).select_from(WorkerRecord)) == 0


# -- a worker killed mid-job -------------------------------------------------------------------


async def test_a_sigkilled_workers_video_job_runs_again_on_another_worker(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker
) -> None:
    workers = [spawn(), spawn()]
    await wait_registered(sessionmaker, 2)
    spec = VideoSpec(video_subject="octopuses", quality="draft", script=MEDIUM_SCRIPT)
    async with sessionmaker.begin() as session:
        job = await Repositories(session).jobs.create(payload=spec.model_dump(by_alias=True))
    job_id = job.id

    async def rendering() -> bool:
        return (await read_job(sessionmaker, job_id)).stage == "render"

    await wait_for(rendering, timeout_s=120, what="the first attempt renders")
    first = await read_job(sessionmaker, job_id)
    victim = next(worker for worker in workers if worker.owns(first.worker_id))
    survivor = next(worker for worker in workers if worker is not victim)
    [child] = children_of(victim.pid)  # the job's child, leader of its own process group

    killed_at = datetime.now(UTC)
    victim.signal(signal.SIGKILL)

    # The orphaned child (and its ffmpeg) notices and kills its group: nobody renders for naught.
    await wait_for(lambda: _async(not group_alive(child)), timeout_s=5, what="the child's group")

    async def taken_over() -> bool:
        return (await read_job(sessionmaker, job_id)).attempt_count == 2

    await wait_for(taken_over, timeout_s=30, what="a second attempt")
    second = await read_job(sessionmaker, job_id)
    assert survivor.owns(second.worker_id)
    assert second.claimed_at is not None
    bound_s = float(FAST["MONEYPRINTER_LEASE_S"]) + float(FAST["MONEYPRINTER_HEARTBEAT_INTERVAL_S"])
    assert (second.claimed_at - killed_at).total_seconds() <= bound_s + 2  # + poll and CI slack

    async def completed() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "completed"

    await wait_for(completed, timeout_s=180, what="the job completes")
    done = await read_job(sessionmaker, job_id)
    assert done.attempt_count == 2
    assert done.result_path == f"jobs/{job_id}/2/video.mp4"
    rescued = [event for event in await events(sessionmaker, job_id) if event.event_type == "retry"]
    assert len(rescued) == 1 and (rescued[0].payload or {}).get("rescued") is True


async def test_with_the_default_timings_a_killed_workers_job_runs_again_within_45_s(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker, probe_table: None
) -> None:
    """Lease 30 s + a reaper pass (heartbeat 10 s) ≤ 45 s, with the defaults."""
    assert (DEFAULTS.lease_s, DEFAULTS.heartbeat_interval_s) == (30.0, 10.0)
    workers = [spawn(timings={}), spawn(timings={})]
    await wait_registered(sessionmaker, 2)
    [job_id] = await queue_probes(sessionmaker, 1, sleepS=600, sleepOnAttempts=[1])

    async def claimed() -> bool:
        return len(await probe_runs(sessionmaker)) == 1

    await wait_for(claimed, timeout_s=30, what="the first attempt starts")
    holder = (await read_job(sessionmaker, job_id)).worker_id
    victim = next(worker for worker in workers if worker.owns(holder))
    killed_at = datetime.now(UTC)
    victim.signal(signal.SIGKILL)

    async def completed() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "completed"

    await wait_for(completed, timeout_s=60, what="the job completes elsewhere")
    done = await read_job(sessionmaker, job_id)
    assert done.attempt_count == 2 and done.claimed_at is not None
    taken_over_s = (done.claimed_at - killed_at).total_seconds()
    assert taken_over_s <= 45, taken_over_s
    assert [attempt for _, attempt, _ in await probe_runs(sessionmaker)] == [1, 2]


# -- a paused worker (zombie) ------------------------------------------------------------------


async def test_a_paused_worker_past_its_lease_changes_nothing_when_it_wakes(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker, probe_table: None
) -> None:
    workers = [spawn(), spawn()]
    await wait_registered(sessionmaker, 2)
    [job_id] = await queue_probes(sessionmaker, 1, sleepS=4, sleepOnAttempts=[1])

    async def first_attempt_runs() -> bool:
        return len(await probe_runs(sessionmaker)) == 1

    await wait_for(first_attempt_runs, timeout_s=30, what="the first attempt starts")
    holder = (await read_job(sessionmaker, job_id)).worker_id
    zombie = next(worker for worker in workers if worker.owns(holder))
    other = next(worker for worker in workers if worker is not zombie)
    zombie.signal(signal.SIGSTOP)

    async def finished_by_the_other() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "completed"

    await wait_for(finished_by_the_other, timeout_s=30, what="the other worker finishes it")
    before = await read_job(sessionmaker, job_id)
    events_before = [(event.id, event.message) for event in await events(sessionmaker, job_id)]

    zombie.signal(signal.SIGCONT)  # its sleep is over: it tries to complete attempt 1

    await wait_for(
        lambda: _async("lease lost" in zombie.log()), timeout_s=20, what="the zombie notices"
    )
    after = await read_job(sessionmaker, job_id)
    assert (after.status, after.attempt_count, after.updated_at, after.completed_at) == (
        before.status, before.attempt_count, before.updated_at, before.completed_at,
    )  # fmt: skip
    assert [(event.id, event.message) for event in await events(sessionmaker, job_id)] == (
        events_before
    )
    runs = await probe_runs(sessionmaker)
    assert [(attempt, other.owns(worker_id)) for _, attempt, worker_id in runs] == [
        (1, False),
        (2, True),
    ]
    assert zombie.process.poll() is None  # alive and well, just fenced out


# -- the database goes away --------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_workers_reconnect_after_their_connections_are_terminated(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker, probe_table: None, database_url: str
) -> None:
    workers = [spawn(concurrency=2), spawn(concurrency=2)]
    await wait_registered(sessionmaker, 2)
    await queue_probes(sessionmaker, 200, sleepS=0.05)
    database = database_url.rpartition("/")[2]

    for _ in range(3):
        await asyncio.sleep(1.0)
        terminated = await _terminate_backends(database)
        assert terminated >= 2  # at least each worker's LISTEN connection

    await wait_drained(sessionmaker, 200, timeout_s=120)
    assert await count_by_status(sessionmaker) == {"completed": 200}
    # A job whose body ran while its connection was cut may have run again, never left behind.
    assert {job_id for job_id, _, _ in await probe_runs(sessionmaker)} == {
        job.id for job in await _all_jobs(sessionmaker)
    }
    for worker in workers:  # alive, and LISTENing again
        assert worker.process.poll() is None
        assert "listening for new jobs again" in worker.log()


async def test_workers_ride_out_a_postgres_restart(tmp_path: Path) -> None:
    """A private cluster: restarted with pg_ctl while a worker drains; the queue drains."""
    with private_cluster() as dsn:
        database_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        await asyncio.to_thread(upgrade_to_head, database_url)  # it runs its own loop
        engine = create_engine(database_url)
        maker = create_sessionmaker(engine)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(PROBE_TABLE))
            env = {
                **os.environ, **FAST, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
                "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
            }  # fmt: skip
            worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=2)
            try:
                await wait_registered(maker, 1)
                await queue_probes(maker, 60, sleepS=0.1)

                async def some_done() -> bool:
                    return (await count_by_status(maker)).get("completed", 0) >= 10

                await wait_for(some_done, timeout_s=60, what="the drain starts")
                await engine.dispose()
                restart_cluster()
                await queue_probes(maker, 20, sleepS=0.01)  # queued after the restart

                await wait_drained(maker, 80, timeout_s=120)
                assert await count_by_status(maker) == {"completed": 80}
                assert "listening for new jobs again" in worker.log()
                assert worker.stop() == 0, worker.log()[-2000:]
            finally:
                worker.stop()
        finally:
            await engine.dispose()


# -- helpers -----------------------------------------------------------------------------------


async def _async(value: bool) -> bool:
    return value


async def _all_jobs(maker: Maker) -> list[GenerationJob]:
    async with maker() as session:
        return list((await session.scalars(select(GenerationJob))).all())


async def _terminate_backends(database: str) -> int:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return sum(1 for row in rows if row[0])
    finally:
        await connection.close()


_CLUSTER: dict[str, Any] = {}


@contextlib.contextmanager
def private_cluster() -> Iterator[str]:
    """initdb + pg_ctl start on a free port (as the postgres user when run as root)."""
    bindir = _postgres_bindir()
    folder = Path(tempfile.mkdtemp(prefix="mp-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    port = free_port()
    pg_ctl = [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log")]
    options = f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder}"
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True, capture_output=True,
    )  # fmt: skip
    _CLUSTER.update(pg_ctl=pg_ctl, options=options)
    subprocess.run([*pg_ctl, "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def restart_cluster() -> None:
    subprocess.run(
        [*_CLUSTER["pg_ctl"], "-o", _CLUSTER["options"], "-m", "fast", "restart"],
        check=True, capture_output=True,
    )  # fmt: skip


def _postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    assert initdb is not None, "the Postgres server binaries (initdb, pg_ctl) are needed"
    return Path(initdb).parent
