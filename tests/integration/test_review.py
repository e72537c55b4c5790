"""Review before render, through the API and a real Worker on each database: a job queued with
`"review": true` stops at its storyboard; an edit changes one scene's text and another's clip;
the render that follows speaks only the edited sentences and downloads only the new clip (the
loopback OpenAI speech server and Pexels count what they are asked)."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from app.db.repositories import Repositories
from app.media import probe_media
from app.settings import Settings, find_ffmpeg
from app.storyboard import SceneEdit, Storyboard, StoryboardEdit, apply_edit
from tests.fakes import openai_speech, pexels, pixabay
from tests.fakes.pexels import FRAME, FakeVideo, MediaFile, encode_videos
from tests.fakes.server import serving
from tests.integration import test_queue_faults as faults
from tests.integration.test_queue_faults import MEDIUM_SCRIPT, wait_registered
from tests.integration.test_worker import Maker, queue_job, read_events, read_job, wait_for
from tests.support.workers import WorkerProcess
from worker.main import Worker

SCRIPT = (
    "Octopuses have three hearts. Each arm can taste what it touches.\n\n"
    "They change colour in the blink of an eye. Some walk on two arms along the sea floor. "
    "A few even use coconut shells as armour."
)
KEY = "stock-test-key"
KEPT = "The {} of an earlier attempt is used: its inputs have not changed."


class Services(NamedTuple):
    speech: Any
    stock: Any  # Pexels
    speech_url: str
    stock_url: str
    other: Any  # Pixabay
    other_url: str


CLIPS = [FakeVideo(n, 6, (f"clip-{n}.mp4",), "octopus ocean reef") for n in range(1, 9)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaFile]:
    return encode_videos(
        tmp_path_factory.mktemp("stock"),
        CLIPS,
        lambda video: f"color=c=0x{video.video_id * 30:02x}4080:{FRAME}:d={video.duration_s}",
    )


@pytest.fixture
def services(media: dict[str, MediaFile]) -> Iterator[Services]:
    speech = openai_speech.handler()
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    other = pixabay.handler(videos=CLIPS, media=media, api_key=KEY)
    with serving(speech) as speech_url, serving(stock) as stock_url, serving(other) as other_url:
        yield Services(speech, stock, speech_url, stock_url, other, other_url)


@pytest.fixture
def settings(settings: Settings, services: Services) -> Settings:
    """The API and the worker, both with the loopback speech server and stock sites."""
    return settings.model_copy(
        update={
            "tts_provider": "openai",
            "speech_base_url": f"{services.speech_url}/v1",
            "speech_api_key": openai_speech.API_KEY,
            "pexels_api_key": KEY,
            "pexels_base_url": services.stock_url,
            "pixabay_api_key": KEY,
            "pixabay_base_url": f"{services.other_url}/api",
        }
    )


@pytest.fixture
async def worker(settings: Settings, sessionmaker: Maker) -> AsyncIterator[Worker]:
    running = Worker(settings, sessionmaker)
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await asyncio.wait_for(task, 30)


async def until_state(client: httpx.AsyncClient, job_id: str, *states: str) -> dict[str, Any]:
    async def reached() -> bool:
        return (await client.get(f"/api/jobs/{job_id}")).json()["job"]["state"] in states

    await wait_for(reached, timeout_s=120)
    return dict((await client.get(f"/api/jobs/{job_id}")).json()["job"])


async def queue_for_review(client: httpx.AsyncClient, **fields: Any) -> str:
    request = {
        "videoSubject": "octopuses", "script": SCRIPT, "review": True, "quality": "draft",
        "footageSource": "pexels", "clipDuration": 3, **fields,
    }  # fmt: skip
    response = await client.post("/api/generate", json=request)
    assert response.status_code == 200, response.text
    return str(response.json()["jobId"])


def voice_samples(path: Path, start_s: float, end_s: float) -> bytes:
    with wave.open(str(path), "rb") as voice:
        rate, width = voice.getframerate(), voice.getsampwidth() * voice.getnchannels()
        frames = voice.readframes(voice.getnframes())
    return frames[round(start_s * rate) * width : round(end_s * rate) * width]


async def test_a_reviewed_job_renders_only_what_its_edit_changed(
    client: httpx.AsyncClient,
    worker: Worker,
    settings: Settings,
    sessionmaker: Maker,
    services: Services,
) -> None:
    speech, stock = services.speech, services.stock
    job_id = await queue_for_review(client)

    job = await until_state(client, job_id, "awaiting_review", "failed")
    assert job["state"] == "awaiting_review", job
    board = (await client.get(f"/api/jobs/{job_id}/storyboard")).json()
    scenes = board["scenes"]
    assert len(scenes) >= 3 and not board["approved"]
    assert " ".join(scene["text"] for scene in scenes).replace("\n\n", " ") == " ".join(
        SCRIPT.split()
    )
    assert scenes[0]["startS"] == 0.0
    for before, after in itertools.pairwise(scenes):
        assert before["endS"] == after["startS"] > before["startS"]
    for scene in scenes:
        assert scene["clip"]["source"] == "Pexels" and scene["clip"]["key"].startswith("Pexels:")
        assert scene["clip"]["previewUrl"].startswith(services.stock_url)
        assert "downloadUrl" not in scene["clip"]
    assert scenes[2]["candidates"], "scene 3 has other clips to choose from"
    assert board["settings"]["fontSize"] == 80
    spoken_before = len(speech.requests)
    downloads_before = [r.path for r in stock.requests if r.path.startswith("/files/")]
    listed = (await client.get(f"/api/jobs/{job_id}/artifacts")).json()["artifacts"]
    assert {artifact["kind"] for artifact in listed} == {"voice", "script"}
    first_voice = settings.jobs_dir / job_id / "1" / "voice.wav"
    scene_one = voice_samples(first_voice, scenes[0]["startS"], scenes[0]["endS"])

    # Bad edits are named by scene and field, and change nothing.
    for edit, named in [
        ({"scenes": [{"text": "  "}]}, "scenes[0].text"),
        ({"scenes": [{}, {}, {"clip": "Pexels:999"}]}, "scenes[2].clip"),
        ({"scenes": [{} for _ in scenes] + [{"text": "More."}]}, f"scenes[{len(scenes)}].clip"),
        ({"fontSize": 5}, "fontSize"),
        ({"song": "missing.mp3"}, "song"),
    ]:
        refused = await client.patch(f"/api/jobs/{job_id}/storyboard", json=edit)
        assert refused.status_code == 400 and named in refused.json()["message"], refused.text
    assert (await client.patch(f"/api/jobs/{job_id}/storyboard", json={"x": 1})).status_code == 400

    new_text = "Every octopus is a master of escape."
    swapped = scenes[2]["candidates"][0]["key"]
    edit = {
        "scenes": [{}, {"text": new_text}, {"clip": swapped}, *({} for _ in scenes[3:])],
        "color": "#00FF00",
    }
    edited = await client.patch(f"/api/jobs/{job_id}/storyboard", json=edit)
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert after["scenes"][1]["text"] == new_text and after["scenes"][2]["clip"]["key"] == swapped
    assert after["scenes"][0]["endS"] == scenes[0]["endS"]  # unchanged so far
    assert after["scenes"][1]["startS"] is None  # to be spoken again
    assert after["settings"]["color"] == "#00FF00"

    stale = await client.patch(
        f"/api/jobs/{job_id}/storyboard", json={"version": board["version"], "fontSize": 60}
    )
    assert stale.status_code == 409 and "changed since" in stale.json()["message"]
    queued = await client.post(f"/api/jobs/{job_id}/render")
    assert queued.status_code == 200 and queued.json()["state"] == "queued", queued.text
    again = await client.post(f"/api/jobs/{job_id}/render")
    assert again.status_code == 409
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "completed", job

    spoken = [str(request["body"]["input"]) for request in speech.requests[spoken_before:]]
    assert spoken == [new_text]  # the other sentences came from the cache
    downloads = [r.path for r in stock.requests if r.path.startswith("/files/")]
    new_downloads = downloads[len(downloads_before) :]
    assert len(new_downloads) == 1 and new_downloads[0].endswith(
        f"clip-{swapped.split(':')[1]}.mp4"
    )
    assert not [r for r in stock.requests if r.path == "/videos/search"][len(scenes) :]
    work = settings.jobs_dir / job_id / "1"
    credits = json.loads((work / "footage.json").read_text())["scenes"]
    assert str(credits[2]["id"]) == swapped.split(":")[1]
    cues = [line for line in (work / "subtitles.srt").read_text().splitlines() if "-->" not in line]
    assert new_text in " ".join(line for line in cues if line and not line.isdigit())
    assert "&H0000FF00" in (work / "subtitles.ass").read_text().upper()
    assert voice_samples(work / "voice.wav", 0.0, scenes[0]["endS"]) == scene_one
    kinds = [
        a["kind"] for a in (await client.get(f"/api/jobs/{job_id}/artifacts")).json()["artifacts"]
    ]
    assert kinds.count("voice") == 1 and "video" in kinds  # the plan's voice is the render's now
    stored = await read_job(sessionmaker, job_id)
    assert stored.storyboard is not None and stored.storyboard["approved"]


async def test_a_job_in_review_can_be_cancelled_and_others_have_no_storyboard(
    client: httpx.AsyncClient, worker: Worker
) -> None:
    job_id = await queue_for_review(client)
    await until_state(client, job_id, "awaiting_review")
    # Its event stream ends there: nothing will happen until a person acts.
    streamed = await asyncio.wait_for(client.get(f"/api/jobs/{job_id}/stream"), 30)
    assert streamed.text.rstrip().split("\n\n")[-1].startswith("event: end")
    assert "awaiting_review" in streamed.text

    edited = await client.patch(f"/api/jobs/{job_id}/storyboard", json={"fontSize": 60})
    assert edited.status_code == 200

    cancelled = await client.post(f"/api/jobs/{job_id}/cancel")

    assert cancelled.json()["state"] == "cancelled"
    refused = await client.patch(f"/api/jobs/{job_id}/storyboard", json={"fontSize": 70})
    assert refused.status_code == 409
    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 409
    # A retry brings it back to review, its storyboard as it was left.
    retried = await client.post(f"/api/jobs/{job_id}/retry")
    assert retried.json()["state"] == "awaiting_review", retried.text
    again = (await client.get(f"/api/jobs/{job_id}/storyboard")).json()
    assert again["settings"]["fontSize"] == 60 and again["version"] == "1"
    plain = await client.post(
        "/api/generate", json={"videoSubject": "octopuses", "script": "One sentence."}
    )
    missing = await client.get(f"/api/jobs/{plain.json()['jobId']}/storyboard")
    assert missing.status_code == 409 and '"review": true' in missing.json()["message"]


async def test_the_next_worker_resumes_a_reviewed_jobs_killed_render(
    spawn: Callable[..., WorkerProcess],
    sessionmaker: Maker,
    services: Services,
) -> None:
    """A worker killed while it renders an edited storyboard: the next one neither speaks nor
    downloads anything again."""
    speech, stock, speech_url, stock_url = services[:4]
    extra = {
        "MONEYPRINTER_TTS_PROVIDER": "openai",
        "MONEYPRINTER_SPEECH_BASE_URL": f"{speech_url}/v1",
        "MONEYPRINTER_SPEECH_API_KEY": openai_speech.API_KEY,
        "PEXELS_API_KEY": KEY,
        "MONEYPRINTER_PEXELS_BASE_URL": stock_url,
    }
    workers = [spawn(extra=extra), spawn(extra=extra)]
    await wait_registered(sessionmaker, 2)
    job_id = await queue_job(
        sessionmaker, script=MEDIUM_SCRIPT, footage_source="pexels", review=True
    )

    async def in_review() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "awaiting_review"

    await faults.wait_for(in_review, timeout_s=120, what="the storyboard")
    async with sessionmaker.begin() as session:
        jobs = Repositories(session).jobs
        job = await jobs.get(job_id)
        assert job is not None and job.storyboard is not None
        planned = Storyboard.model_validate(job.storyboard)
        kept = [SceneEdit() for _ in planned.scenes[2:]]
        edit = StoryboardEdit(scenes=[SceneEdit(), SceneEdit(text="Octopuses dream."), *kept])
        storyboard, payload = apply_edit(planned, job.payload, edit, max_words=1500)
        document = storyboard.model_dump(mode="json", by_alias=True)
        seen = job.updated_at
        assert await jobs.edit_storyboard(job_id, document, payload, seen=seen)
        # An edit made on what was read before this one stores nothing.
        assert not await jobs.edit_storyboard(job_id, document, {}, seen=seen)
        assert await jobs.approve_storyboard(job_id) is not None

    async def rendering() -> bool:
        job = await read_job(sessionmaker, job_id)
        return job.status == "running" and job.stage == "render"

    await faults.wait_for(rendering, timeout_s=120, what="the reviewed job renders")
    spoken, asked = len(speech.requests), len(stock.requests)
    first = await read_job(sessionmaker, job_id)
    victim = next(worker for worker in workers if worker.owns(first.worker_id))
    victim.signal(signal.SIGKILL)

    async def completed() -> bool:
        return (await read_job(sessionmaker, job_id)).status == "completed"

    await faults.wait_for(completed, timeout_s=180, what="the job completes")
    done = await read_job(sessionmaker, job_id)
    assert done.attempt_count == 2 and not victim.owns(done.worker_id)
    assert (len(speech.requests), len(stock.requests)) == (spoken, asked)
    messages = [event.message for event in await read_events(sessionmaker, job_id)]
    assert KEPT.format("footage") in messages
    assert any("sentences spoken before" in message for message in messages)


async def test_a_reviewer_searches_footage_and_names_a_stock_clip_by_its_id(
    client: httpx.AsyncClient, worker: Worker, settings: Settings, services: Services
) -> None:
    job_id = await queue_for_review(client)
    await until_state(client, job_id, "awaiting_review")
    search = f"/api/jobs/{job_id}/storyboard/search"

    # A clip named by its id alone is asked of its site and joins the storyboard.
    named = await client.patch(
        f"/api/jobs/{job_id}/storyboard", json={"scenes": [{"clip": "Pixabay:4"}]}
    )
    assert named.status_code == 200, named.text
    board = named.json()
    assert len(board["scenes"]) == 1  # the whole list: the others were deleted
    assert board["scenes"][0]["clip"]["key"] == "Pixabay:4"
    assert "Pixabay:4" in {clip["key"] for clip in board["clips"]}
    for clip, message in [
        ("Pexels:999", "scenes[0].clip: Pexels: no video 999"),
        ("Flickr:1", "scenes[0].clip: 'Flickr:1' names no stock clip"),
    ]:
        refused = await client.patch(
            f"/api/jobs/{job_id}/storyboard", json={"scenes": [{"clip": clip}]}
        )
        assert refused.status_code == 400 and refused.json()["message"].startswith(message)

    found = await client.post(search, json={"query": "coral reef", "source": "pixabay"})
    assert found.status_code == 200, found.text
    keys = [clip["key"] for clip in found.json()["clips"]]
    assert keys and all(key.startswith("Pixabay:") for key in keys)
    stored = (await client.get(f"/api/jobs/{job_id}/storyboard")).json()
    assert set(keys) <= {clip["key"] for clip in stored["clips"]}
    assert (await client.post(search, json={"query": " "})).status_code == 400
    assert (await client.post(search, json={"query": "x", "source": "vimeo"})).status_code == 400

    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 200
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "completed", job
    credits = json.loads((settings.jobs_dir / job_id / "1" / "footage.json").read_text())
    assert [(scene["source"], str(scene["id"])) for scene in credits["scenes"]] == [
        ("Pixabay", "4")
    ]
    downloads = [r.path for r in services.other.requests if r.path.startswith("/files/")]
    assert downloads == ["/files/clip-4.mp4"]


async def test_a_clip_of_ones_own_is_checked_by_its_content_and_rendered(
    client: httpx.AsyncClient, worker: Worker, settings: Settings, media: dict[str, MediaFile]
) -> None:
    job_id = await queue_for_review(client)
    await until_state(client, job_id, "awaiting_review")
    uploads = f"/api/jobs/{job_id}/storyboard/clips"

    fake = await client.post(uploads, files={"file": ("holiday.mp4", b"not a video at all")})
    assert fake.status_code == 400
    assert fake.json()["message"].startswith("file: holiday.mp4 is neither a video")
    own = media["clip-5.mp4"].path.read_bytes()
    kept = await client.post(uploads, files={"file": ("my-harbour_at dawn.mp4", own, "video/mp4")})
    assert kept.status_code == 200, kept.text
    clip = kept.json()["clip"]
    assert clip["key"].startswith("upload:") and clip["description"] == "my harbour at dawn"
    assert (clip["widthPx"], clip["heightPx"]) == (288, 512) and clip["durationS"] > 5
    served = await client.get(clip["previewUrl"])
    assert served.status_code == 200 and served.content == own
    assert served.headers["content-type"] == "video/mp4"
    assert (await client.get(f"{uploads}/..%2F1%2Fjob.json")).status_code == 404

    edited = await client.patch(
        f"/api/jobs/{job_id}/storyboard", json={"scenes": [{"clip": clip["key"]}]}
    )
    assert edited.status_code == 200, edited.text
    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 200
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "completed", job
    credits = json.loads((settings.jobs_dir / job_id / "1" / "footage.json").read_text())
    assert [scene["source"] for scene in credits["scenes"]] == ["upload"]


async def test_a_scene_is_previewed_alone_as_a_draft_and_the_render_reuses_its_work(
    client: httpx.AsyncClient, worker: Worker, settings: Settings, services: Services
) -> None:
    job_id = await queue_for_review(client, quality="standard")
    await until_state(client, job_id, "awaiting_review")
    board = (await client.get(f"/api/jobs/{job_id}/storyboard")).json()
    edit = {"scenes": [{}, {"text": "Octopuses can squeeze through any gap."}]}
    assert (await client.patch(f"/api/jobs/{job_id}/storyboard", json=edit)).status_code == 200

    queued = await client.post(f"/api/jobs/{job_id}/storyboard/scenes/2/preview")
    assert queued.status_code == 200, queued.text
    preview_id = queued.json()["jobId"]
    preview = await until_state(client, preview_id, "completed", "failed")
    assert preview["state"] == "completed", preview
    kinds = {
        a["kind"]
        for a in (await client.get(f"/api/jobs/{preview_id}/artifacts")).json()["artifacts"]
    }
    assert kinds == {"video"}  # stops at the render: no title, thumbnail or checks
    video = await client.get(f"/api/jobs/{preview_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    facts = probe_media(settings.data_dir / str(preview["resultPath"]), ffprobe_exe="ffprobe")
    assert facts is not None and (facts["widthPx"], facts["heightPx"]) == (540, 960)
    assert 1.0 < facts["durationS"] < board["scenes"][1]["endS"] + 2  # that scene alone
    listed = (await client.get("/api/jobs")).json()["jobs"]
    assert preview_id not in {job["id"] for job in listed} and job_id in {j["id"] for j in listed}
    assert (await client.post(f"/api/jobs/{job_id}/storyboard/scenes/9/preview")).status_code == 404

    spoken = len(services.speech.requests)
    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 200
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "completed", job
    assert len(services.speech.requests) == spoken  # the preview spoke the new sentence
    assert (await client.post(f"/api/jobs/{job_id}/storyboard/scenes/1/preview")).status_code == 409


async def test_a_batch_asked_for_review_waits_for_it_and_its_cancel_ends_the_wait(
    client: httpx.AsyncClient, worker: Worker
) -> None:
    created = await client.post(
        "/api/batches",
        json={
            "options": {"review": True, "quality": "draft", "footageSource": "pexels"},
            "jobs": [{"videoSubject": "octopuses", "script": SCRIPT}, {"videoSubject": "squid",
                     "script": "Squid glow in the dark."}],
        },
    )  # fmt: skip
    assert created.status_code == 200, created.text
    batch_id = created.json()["batchId"]

    async def waiting() -> bool:
        batch = (await client.get(f"/api/batches/{batch_id}")).json()["batch"]
        return str(batch["state"]) == "awaiting_review"

    await wait_for(waiting, timeout_s=120)
    batch = (await client.get(f"/api/batches/{batch_id}")).json()["batch"]
    assert batch["counts"] == {"awaiting_review": 2} and batch["progress"] < 1

    cancelled = await client.post(f"/api/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    batch = (await client.get(f"/api/batches/{batch_id}")).json()["batch"]
    assert (batch["state"], batch["counts"]) == ("cancelled", {"cancelled": 2})


async def test_a_render_that_cannot_have_its_clip_fails_and_its_review_opens_again(
    client: httpx.AsyncClient, worker: Worker, settings: Settings, media: dict[str, MediaFile]
) -> None:
    job_id = await queue_for_review(client)
    await until_state(client, job_id, "awaiting_review")
    board = (await client.get(f"/api/jobs/{job_id}/storyboard")).json()
    own = media["clip-3.mp4"].path.read_bytes()
    kept = await client.post(
        f"/api/jobs/{job_id}/storyboard/clips", files={"file": ("own.mp4", own, "video/mp4")}
    )
    clip = kept.json()["clip"]
    short = await client.post(
        f"/api/jobs/{job_id}/storyboard/clips",
        files={"file": ("blink.mp4", tiny_video(settings.data_dir / "blink.mp4"), "video/mp4")},
    )
    assert short.status_code == 400 and "at least 1 s" in short.json()["message"]
    edit = {"scenes": [{"clip": clip["key"]}]}
    assert (await client.patch(f"/api/jobs/{job_id}/storyboard", json=edit)).status_code == 200
    assert (await client.post(f"/api/jobs/{job_id}/review")).status_code == 409  # in review
    # The upload is gone by the time the render runs (another host without the bucket, say).
    (settings.data_dir / "jobs" / job_id / "uploads" / clip["id"]).unlink()

    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 200
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "failed" and "Scene 1: the clip upload:" in job["errorMessage"]

    reopened = await client.post(f"/api/jobs/{job_id}/review")
    assert reopened.json()["state"] == "awaiting_review", reopened.text
    fixed = await client.patch(
        f"/api/jobs/{job_id}/storyboard",
        json={"scenes": [{"clip": board["scenes"][0]["clip"]["key"]}]},
    )
    assert fixed.status_code == 200, fixed.text
    assert (await client.post(f"/api/jobs/{job_id}/render")).status_code == 200
    job = await until_state(client, job_id, "completed", "failed")
    assert job["state"] == "completed", job


def tiny_video(path: Path) -> bytes:
    """A video of three frames: too short to loop under a scene."""
    subprocess.run(
        [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64:r=30:d=0.1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path.read_bytes()
