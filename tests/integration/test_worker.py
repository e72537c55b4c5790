"""A real Worker on each database: render, fail, cancel (queued, mid-render), crash, release."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import time
import wave
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationEvent, GenerationJob
from app.db.repositories import Repositories
from app.domain import VideoSpec
from app.settings import Settings
from worker.main import Worker
from worker.options import PipelineOptions
from worker.pipeline.base import ProgressEvent
from worker.pipeline.run import run_pipeline
from worker.pipeline.script import NO_SCRIPT_MESSAGE

Maker = async_sessionmaker[AsyncSession]

SHORT_SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
# About two minutes of narration: the draft render takes several seconds, time enough to act.
LONG_SCRIPT = " ".join(
    f"Fact number {n}: the octopus keeps surprising the people who study it." for n in range(60)
)
RUN_TIMEOUT_S = 60.0


async def queue_job(maker: Maker, **fields: Any) -> str:
    spec = VideoSpec(video_subject="octopuses", quality="draft", **fields)
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload=spec.model_dump(mode="json", by_alias=True)
        )
    return job.id


async def read_job(maker: Maker, job_id: str) -> GenerationJob:
    async with maker() as session:
        job = await Repositories(session).jobs.get(job_id)
    assert job is not None
    return job


async def read_events(maker: Maker, job_id: str) -> list[GenerationEvent]:
    async with maker() as session:
        return list(await Repositories(session).events.list_after(job_id))


async def wait_for(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0) -> None:
    """Poll `check` (the database, /proc) until it holds; TimeoutError after `timeout_s`."""
    deadline_s = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline_s:
            raise TimeoutError(f"not true after {timeout_s} s")
        await asyncio.sleep(0.05)


def ffprobe(path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(completed.stdout)
    return data


def live_group_members(pgid: int) -> list[int]:
    """Processes of the group that still run: zombies are dead (killed, not yet reaped by init)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


async def wait_group_gone(pgid: int) -> None:
    async def gone() -> bool:
        return not live_group_members(pgid)

    await wait_for(gone, timeout_s=2.0)


async def start_render(settings: Settings, maker: Maker) -> tuple[Worker, asyncio.Task[None], str]:
    """A worker running the long job, once its child is rendering."""
    job_id = await queue_job(maker, script=LONG_SCRIPT)
    worker = Worker(settings, maker, concurrency=1)
    task = asyncio.create_task(worker.run())

    async def rendering() -> bool:
        assert not task.done()
        return (await read_job(maker, job_id)).stage == "render"

    await wait_for(rendering)
    return worker, task, job_id


async def test_worker_renders_a_job_to_completion(settings: Settings, sessionmaker: Maker) -> None:
    job_id = await queue_job(sessionmaker, script=SHORT_SCRIPT)

    await asyncio.wait_for(Worker(settings, sessionmaker).run(wait=False), RUN_TIMEOUT_S)

    job = await read_job(sessionmaker, job_id)
    assert job.status == "completed", job.error_message
    assert job.result_path == f"jobs/{job_id}/1/video.mp4"
    assert job.progress == 1.0
    video = settings.data_dir / job.result_path
    probe = ffprobe(video)
    streams = {stream["codec_type"]: stream for stream in probe["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert streams["video"]["pix_fmt"] == "yuv420p"
    assert streams["video"]["avg_frame_rate"] == "30/1"
    assert (streams["video"]["width"], streams["video"]["height"]) == (540, 960)
    assert streams["audio"]["codec_name"] == "aac"
    assert float(probe["format"]["duration"]) > 2.0
    assert not video.with_name("video.mp4.part").exists()
    assert (video.parent / "script.txt").read_text().strip() == SHORT_SCRIPT

    events = await read_events(sessionmaker, job_id)
    kinds = [(event.event_type, (event.payload or {}).get("state")) for event in events]
    assert kinds[0] == ("state", "queued")
    assert kinds[1] == ("state", "running")
    assert kinds[-1] == ("state", "completed")
    stages = [(event.payload or {}).get("stage") for event in events if event.event_type == "stage"]
    assert stages == [
        "script", "voice", "terms", "footage", "subtitles", "render", "metadata", "qa"
    ]  # fmt: skip
    assert any(event.event_type == "progress" for event in events)
    first_stage = next(i for i, (kind, _) in enumerate(kinds) if kind == "stage")
    assert first_stage > 1

    async with sessionmaker() as session:
        artifacts = {a.kind: a for a in await Repositories(session).artifacts.list_for_job(job_id)}
    assert set(artifacts) == {
        "video", "thumbnail", "metadata", "script", "subtitles", "voice", "qa", "footage"
    }  # fmt: skip
    checked = json.loads((settings.data_dir / artifacts["qa"].path).read_text())
    assert checked["passed"], [check for check in checked["checks"] if not check["passed"]]
    assert len(checked["checks"]) == 10
    assert artifacts["video"].path == job.result_path
    assert artifacts["video"].bytes == video.stat().st_size
    assert artifacts["video"].sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert artifacts["video"].mime == "video/mp4"
    assert artifacts["video"].media is not None
    assert artifacts["video"].media["widthPx"] == 540


async def test_job_without_a_script_fails_with_a_clear_message(
    settings: Settings, sessionmaker: Maker
) -> None:
    job_id = await queue_job(sessionmaker)

    await asyncio.wait_for(Worker(settings, sessionmaker).run(wait=False), RUN_TIMEOUT_S)

    job = await read_job(sessionmaker, job_id)
    assert job.status == "failed"
    assert job.error_message == NO_SCRIPT_MESSAGE
    final = (await read_events(sessionmaker, job_id))[-1]
    assert final.level == "error"
    assert final.payload is not None
    assert final.payload["state"] == "failed"
    assert final.payload["retryable"] is False
    assert final.payload["stage"] == "script"


async def test_cancelled_queued_job_is_never_run(settings: Settings, sessionmaker: Maker) -> None:
    job_id = await queue_job(sessionmaker, script=SHORT_SCRIPT)
    async with sessionmaker.begin() as session:
        await Repositories(session).jobs.request_cancel(job_id)
    assert (await read_job(sessionmaker, job_id)).status == "cancelled"

    await asyncio.wait_for(Worker(settings, sessionmaker).run(wait=False), RUN_TIMEOUT_S)

    job = await read_job(sessionmaker, job_id)
    assert job.status == "cancelled"
    assert job.attempt_count == 0
    states = [(e.payload or {}).get("state") for e in await read_events(sessionmaker, job_id)]
    assert "running" not in states
    assert not (settings.jobs_dir / job_id).exists()


async def test_a_rendering_job_runs_niced_and_a_cancel_kills_its_process_group(
    settings: Settings, sessionmaker: Maker
) -> None:
    worker, task, job_id = await start_render(settings, sessionmaker)
    pgid = worker.running_child_pid(job_id)
    assert pgid is not None

    async def ffmpeg_running() -> bool:
        return len(live_group_members(pgid)) >= 2  # the child and its ffmpeg

    await wait_for(ffmpeg_running)
    # The render yields the CPU: the child and its ffmpeg run at the configured niceness.
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + settings.render_niceness)
    assert settings.render_niceness == 10
    assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in live_group_members(pgid)} == {expected}
    # Where the kernel groups sessions for scheduling, the render's session yields as a whole.
    autogroup = Path(f"/proc/{pgid}/autogroup")
    if autogroup.exists():
        assert autogroup.read_text().split()[-1] == str(min(19, settings.render_niceness))
    async with sessionmaker.begin() as session:
        await Repositories(session).jobs.request_cancel(job_id)

    await wait_group_gone(pgid)  # within 2 s of the request: the child and its ffmpeg

    async def cancelled() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "cancelled"

    await wait_for(cancelled, timeout_s=3.0)  # "within about a second", with room for a slow CI
    job = await read_job(sessionmaker, job_id)
    assert job.result_path is None
    assert not (settings.data_dir / f"jobs/{job_id}/1/video.mp4").exists()
    worker.stop()
    await asyncio.wait_for(task, RUN_TIMEOUT_S)


async def test_crashed_child_is_retried_and_the_worker_carries_on(
    settings: Settings, sessionmaker: Maker
) -> None:
    # A long backoff: the crashed job must still be waiting when the next one has finished.
    settings = settings.model_copy(update={"retry_base_s": 600.0})
    worker, task, crashing_id = await start_render(settings, sessionmaker)
    next_id = await queue_job(sessionmaker, script=SHORT_SCRIPT)
    pid = worker.running_child_pid(crashing_id)
    assert pid is not None

    killed_at = datetime.now(UTC)
    os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would

    async def next_done() -> bool:
        return (await read_job(sessionmaker, next_id)).status == "completed"

    await wait_for(next_done, timeout_s=RUN_TIMEOUT_S)
    crashed = await read_job(sessionmaker, crashing_id)
    # A crash is retryable: back in the queue for a later attempt (retry backoff), logged.
    assert crashed.status == "queued" and crashed.attempt_count == 1
    assert crashed.error_message is not None
    assert "crashed (killed by signal SIGKILL)" in crashed.error_message
    # The first retry waits base/2..base (10 s by default): not checked against "now", which a
    # slow render of the next job may already have passed.
    assert crashed.run_at >= killed_at + timedelta(seconds=settings.retry_base_s / 2)
    assert "retry" in [event.event_type for event in await read_events(sessionmaker, crashing_id)]
    assert not task.done()
    worker.stop()
    await asyncio.wait_for(task, RUN_TIMEOUT_S)


async def test_a_job_whose_lease_was_lost_is_killed_and_its_result_discarded(
    settings: Settings, sessionmaker: Maker
) -> None:
    settings = settings.model_copy(update={"heartbeat_interval_s": 0.2})
    worker, task, job_id = await start_render(settings, sessionmaker)
    pgid = worker.running_child_pid(job_id)
    assert pgid is not None
    events_before = len(await read_events(sessionmaker, job_id))

    # What a reaper and another worker's claim do to a job whose lease lapsed.
    async with sessionmaker.begin() as session:
        await session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == job_id)
            .values(worker_id="other-worker", lease_token="other-claim")
        )

    await wait_group_gone(pgid)
    await asyncio.sleep(0.3)  # give a wrong write the time to happen
    job = await read_job(sessionmaker, job_id)
    assert job.status == "running"
    assert (job.worker_id, job.lease_token) == ("other-worker", "other-claim")
    late_events = (await read_events(sessionmaker, job_id))[events_before:]
    assert all(event.event_type != "state" for event in late_events)
    assert not task.done()
    worker.stop()
    await asyncio.wait_for(task, RUN_TIMEOUT_S)


@pytest.mark.parametrize("now", [False, True], ids=["grace-expires", "stop-now"])
async def test_stopping_releases_a_running_job_without_spending_an_attempt(
    settings: Settings, sessionmaker: Maker, now: bool
) -> None:
    settings = settings.model_copy(update={"shutdown_grace_s": 0.3})
    worker, task, job_id = await start_render(settings, sessionmaker)
    pgid = worker.running_child_pid(job_id)
    assert pgid is not None

    worker.stop(now=now)
    await asyncio.wait_for(task, 10.0)

    job = await read_job(sessionmaker, job_id)
    assert job.status == "queued"
    assert job.attempt_count == 0
    assert job.worker_id is None and job.lease_token is None
    await wait_group_gone(pgid)
    final = (await read_events(sessionmaker, job_id))[-1]
    assert final.payload == {"state": "queued"}
    assert "released" in final.message


@pytest.mark.parametrize(
    ("aspect", "size"), [("9:16", (540, 960)), ("16:9", (960, 540)), ("1:1", (540, 540))]
)
def test_pipeline_renders_each_aspect_offline_with_the_default_voice(
    tmp_path: Path, aspect: str, size: tuple[int, int]
) -> None:
    spec = VideoSpec(video_subject="tides", script="The moon pulls. The sea follows.",
                     quality="draft", aspect=aspect)  # fmt: skip
    options = PipelineOptions(ffmpeg_exe="ffmpeg")  # no LLM, no keys: every offline default
    reported: list[ProgressEvent] = []

    result = run_pipeline(spec, tmp_path, options=options, report=reported.append)

    probe = ffprobe(result.video)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == size
    assert video["r_frame_rate"] == "30/1"
    with wave.open(str(tmp_path / "voice.wav")) as narration:
        narration_s = narration.getnframes() / narration.getframerate()
    assert float(probe["format"]["duration"]) == pytest.approx(narration_s, abs=0.2)
    kinds = [o.kind for o in result.outputs]
    assert kinds[0] == "video" and {"thumbnail", "metadata", "voice", "subtitles"} <= set(kinds)
    voice = next(o for o in result.outputs if o.kind == "voice")
    assert voice.media["engine"].startswith("piper")
