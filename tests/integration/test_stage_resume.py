"""A retry resumes where the job failed (worker/pipeline/stages.py, worker/cache.py): a real
Worker on each database, its voice from a loopback OpenAI-compatible speech server and its
footage from a loopback Pexels, both counting what they are asked; the render is killed once by
an ffmpeg wrapper, as the out-of-memory killer would; or the worker itself is killed mid-render
and the next worker takes over, on the same host or, through the bucket, on another."""

from __future__ import annotations

import asyncio
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from app.db.repositories import Repositories
from app.settings import Settings, find_ffmpeg
from tests.fakes import openai_speech, pexels, pixabay
from tests.fakes.pexels import FRAME, FakeVideo, MediaFile, encode_videos
from tests.fakes.server import serving
from tests.integration import test_queue_faults as faults
from tests.integration.test_queue_faults import MEDIUM_SCRIPT, wait_registered
from tests.integration.test_worker import Maker, queue_job, read_events, read_job, wait_for
from tests.support.s3 import aws_environment, new_bucket, object_keys, s3_server
from tests.support.workers import WorkerProcess
from worker.main import Worker

SCRIPT = (
    "Octopuses have three hearts. Each arm can taste what it touches. "
    "They change colour in the blink of an eye."
)
KEY = "pexels-test-key"
KEPT = "The {} of an earlier attempt is used: its inputs have not changed."
CLIPS = [FakeVideo(n, 4, (f"clip-{n}.mp4",), "octopus ocean") for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaFile]:
    return encode_videos(
        tmp_path_factory.mktemp("stock"),
        CLIPS,
        lambda video: f"testsrc2={FRAME}:d={video.duration_s},hue=h={video.video_id * 100}",
    )


def render_killed_once(tmp_path: Path, pattern: str = "*video.mp4.part") -> Path:
    """An ffmpeg that SIGKILLs itself the first time an argument matches `pattern` (by default,
    when it is asked to write the video)."""
    wrapper, marker = tmp_path / "ffmpeg-killed-once", tmp_path / "render-killed"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        f'  case "$arg" in {pattern})\n'
        f'    if [ ! -e "{marker}" ]; then touch "{marker}"; kill -9 $$; fi;;\n'
        "  esac\n"
        "done\n"
        f'exec "{find_ffmpeg()}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


async def test_a_retry_after_the_render_was_killed_resumes_at_the_render(
    settings: Settings, sessionmaker: Maker, media: dict[str, MediaFile], tmp_path: Path
) -> None:
    speech = openai_speech.handler()
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    with serving(speech) as speech_url, serving(stock) as stock_url:
        settings = settings.model_copy(
            update={
                "ffmpeg": str(render_killed_once(tmp_path)),
                "tts_provider": "openai",
                "speech_base_url": f"{speech_url}/v1",
                "speech_api_key": openai_speech.API_KEY,
                "pexels_api_key": KEY,
                "pexels_base_url": stock_url,
                "retry_base_s": 0.1,
                "retry_cap_s": 0.2,
            }
        )
        job_id = await queue_job(sessionmaker, script=SCRIPT, footage_source="pexels")
        worker = Worker(settings, sessionmaker)
        task = asyncio.create_task(worker.run())

        async def finished() -> bool:
            assert not task.done()
            return (await read_job(sessionmaker, job_id)).status in ("completed", "failed")

        await wait_for(finished, timeout_s=120)
        worker.stop()
        await asyncio.wait_for(task, 30)

    job = await read_job(sessionmaker, job_id)
    assert (job.status, job.attempt_count) == ("completed", 2), job.error_message
    events = await read_events(sessionmaker, job_id)
    retry = next(index for index, event in enumerate(events) if event.event_type == "retry")
    assert "killed by signal 9" in events[retry].message
    second = [event.message for event in events[retry:]]
    # Nothing before the render was done again: no sentence spoken, no clip downloaded twice.
    assert len(speech.requests) == 3
    downloads = [request.path for request in stock.requests if request.path.startswith("/files/")]
    searches = [request for request in stock.requests if request.path == "/videos/search"]
    assert len(downloads) == len(set(downloads)) == len(searches) >= 2  # one of each per scene
    for stage in ("script", "footage"):
        assert KEPT.format(stage) in second
    assert any("(3 of 3 sentences spoken before)" in message for message in second)
    assert any(message.startswith("Rendering") for message in second)
    jobs_dir = settings.jobs_dir / job_id
    voices = [(jobs_dir / attempt / "voice.wav").read_bytes() for attempt in ("1", "2")]
    assert voices[0] == voices[1]
    assert (jobs_dir / "2" / "video.mp4").stat().st_size > 0


async def test_the_next_worker_resumes_a_killed_workers_render_from_its_stages(
    spawn: Callable[..., WorkerProcess], sessionmaker: Maker, media: dict[str, MediaFile]
) -> None:
    speech = openai_speech.handler()
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    with serving(speech) as speech_url, serving(stock) as stock_url:
        extra = {
            "MONEYPRINTER_TTS_PROVIDER": "openai",
            "MONEYPRINTER_SPEECH_BASE_URL": f"{speech_url}/v1",
            "MONEYPRINTER_SPEECH_API_KEY": openai_speech.API_KEY,
            "PEXELS_API_KEY": KEY,
            "MONEYPRINTER_PEXELS_BASE_URL": stock_url,
        }
        workers = [spawn(extra=extra), spawn(extra=extra)]
        await wait_registered(sessionmaker, 2)
        job_id = await queue_job(sessionmaker, script=MEDIUM_SCRIPT, footage_source="pexels")

        async def rendering() -> bool:
            return (await read_job(sessionmaker, job_id)).stage == "render"

        await faults.wait_for(rendering, timeout_s=120, what="the first attempt renders")
        spoken, asked = len(speech.requests), len(stock.requests)
        first = await read_job(sessionmaker, job_id)
        victim = next(worker for worker in workers if worker.owns(first.worker_id))
        victim.signal(signal.SIGKILL)

        async def completed() -> bool:
            return (await read_job(sessionmaker, job_id)).status == "completed"

        await faults.wait_for(completed, timeout_s=180, what="the job completes")

    done = await read_job(sessionmaker, job_id)
    assert done.attempt_count == 2 and not victim.owns(done.worker_id)
    sentences = MEDIUM_SCRIPT.count(".")
    assert (spoken, len(speech.requests)) == (sentences, sentences)  # none spoken again
    assert len(stock.requests) == asked  # nothing searched or downloaded again
    messages = [event.message for event in await read_events(sessionmaker, job_id)]
    for stage in ("script", "footage"):
        assert KEPT.format(stage) in messages


async def test_a_worker_on_another_host_resumes_from_the_stages_in_the_bucket(
    spawn: Callable[..., WorkerProcess],
    sessionmaker: Maker,
    media: dict[str, MediaFile],
    tmp_path: Path,
) -> None:
    """Two hosts (two data folders) share the database and a bucket: the stages the first one
    recorded reach the second through the bucket, so it neither speaks nor downloads again."""
    speech = openai_speech.handler()
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    with s3_server() as endpoint, serving(speech) as speech_url, serving(stock) as stock_url:
        bucket = new_bucket(endpoint)
        shared = {
            "MONEYPRINTER_TTS_PROVIDER": "openai",
            "MONEYPRINTER_SPEECH_BASE_URL": f"{speech_url}/v1",
            "MONEYPRINTER_SPEECH_API_KEY": openai_speech.API_KEY,
            "PEXELS_API_KEY": KEY,
            "MONEYPRINTER_PEXELS_BASE_URL": stock_url,
            "MONEYPRINTER_STORAGE_URL": f"s3://{bucket}",
            **aws_environment(endpoint),
        }
        first = spawn(extra={**shared, "MONEYPRINTER_DATA_DIR": str(tmp_path / "host-a")})
        await wait_registered(sessionmaker, 1)
        job_id = await queue_job(sessionmaker, script=MEDIUM_SCRIPT, footage_source="pexels")
        stages = f"jobs/{job_id}/stages"

        async def in_the_bucket() -> bool:
            keys = await asyncio.to_thread(object_keys, endpoint, bucket)
            rendering = (await read_job(sessionmaker, job_id)).stage == "render"
            return rendering and {f"{stages}/voice.json", f"{stages}/footage.json"} <= set(keys)

        await faults.wait_for(in_the_bucket, timeout_s=120, what="the stages in the bucket")
        spoken, asked = len(speech.requests), len(stock.requests)
        first.signal(signal.SIGKILL)
        second = spawn(extra={**shared, "MONEYPRINTER_DATA_DIR": str(tmp_path / "host-b")})

        async def completed() -> bool:
            return (await read_job(sessionmaker, job_id)).status == "completed"

        await faults.wait_for(completed, timeout_s=180, what="the job completes")
        left = await asyncio.to_thread(object_keys, endpoint, bucket)

    done = await read_job(sessionmaker, job_id)
    assert done.attempt_count == 2 and second.owns(done.worker_id)
    assert (spoken, len(speech.requests)) == (MEDIUM_SCRIPT.count("."),) * 2  # none again
    assert len(stock.requests) == asked  # nothing searched or downloaded again
    messages = [event.message for event in await read_events(sessionmaker, job_id)]
    for stage in ("script", "voice", "footage"):
        assert KEPT.format(stage) in messages
    assert f"jobs/{job_id}/2/video.mp4" in left
    assert not [key for key in left if key.startswith(stages)]  # completed: no longer needed
    assert not (tmp_path / "host-b" / "jobs" / job_id).exists()  # scratch, removed


async def test_a_retry_after_the_thumbnail_failed_keeps_the_render(
    settings: Settings, sessionmaker: Maker, media: dict[str, MediaFile], tmp_path: Path
) -> None:
    """The render is kept too. Pixabay refuses its key, so the footage choice is not recorded
    and runs again, taking the same clips from the cache by hard link: the cache's touch of
    their time (which the links share) must not make them look like other files."""
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    refusing = pixabay.handler(videos=CLIPS, media=media, failure="401", api_key=KEY)
    with serving(stock) as stock_url, serving(refusing) as refusing_url:
        settings = settings.model_copy(
            update={
                "ffmpeg": str(render_killed_once(tmp_path, "*.frame.png")),
                "pexels_api_key": KEY,
                "pexels_base_url": stock_url,
                "pixabay_api_key": KEY,
                "pixabay_base_url": f"{refusing_url}/api",
            }
        )
        job_id = await queue_job(sessionmaker, script=SCRIPT, footage_source="auto")
        await asyncio.wait_for(Worker(settings, sessionmaker).run(wait=False), 120)
        failed = await read_job(sessionmaker, job_id)
        assert failed.status == "failed" and "frame" in (failed.error_message or "")
        seen = len(await read_events(sessionmaker, job_id))

        async with sessionmaker.begin() as session:  # what POST /api/jobs/{id}/retry does
            assert await Repositories(session).jobs.requeue(job_id) is not None
        await asyncio.wait_for(Worker(settings, sessionmaker).run(wait=False), 120)

    assert (await read_job(sessionmaker, job_id)).status == "completed"
    retried = [event.message for event in (await read_events(sessionmaker, job_id))[seen:]]
    for stage in ("script", "voice", "render"):
        assert KEPT.format(stage) in retried
    assert KEPT.format("footage") not in retried  # chosen while Pixabay failed: chosen again
    assert not any(message.startswith("Rendering") for message in retried)
