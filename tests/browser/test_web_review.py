"""Review before render in Chromium against the real server, on each database: a video created
with "Review before rendering" stops at its storyboard; scene 2's text is edited, scene 3's
clip swapped for a candidate and scene 1 given an uploaded clip on the page; the render that
follows shows the new text in the subtitles and the new clips in scenes 1 and 3's frames, and
scene 1's voice is the same bytes as before (the loopback speech server and Pexels count what
they are asked)."""

from __future__ import annotations

import json
import re
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import JOB_TIMEOUT_MS, Server, screenshot
from playwright.sync_api import Page, expect

from app.settings import find_ffmpeg
from tests.fakes import openai_speech, pexels
from tests.fakes.pexels import FRAME, FakeVideo, MediaFile, encode_videos
from tests.fakes.server import serving

KEY = "stock-test-key"
SCRIPT = (
    "Octopuses have three hearts. Each arm can taste what it touches. "
    "They change colour in the blink of an eye. Some walk on two arms along the sea floor. "
    "A few even use coconut shells as armour."
)
NEW_TEXT = "Every octopus is a master of escape."
# Each clip one flat colour, its red channel 30 × its id: a frame tells which clip it shows.
CLIPS = [FakeVideo(n, 6, (f"clip-{n}.mp4",), "octopus ocean reef") for n in range(1, 9)]


def red_of(clip_id: int) -> int:
    return clip_id * 30


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaFile]:
    return encode_videos(
        tmp_path_factory.mktemp("stock"),
        CLIPS,
        lambda video: f"color=c=0x{red_of(video.video_id):02x}6060:{FRAME}:d={video.duration_s}",
    )


@pytest.fixture
def services(media: dict[str, MediaFile]) -> Iterator[tuple[Any, Any, str, str]]:
    speech = openai_speech.handler()
    stock = pexels.handler(videos=CLIPS, media=media, api_key=KEY)
    with serving(speech) as speech_url, serving(stock) as stock_url:
        yield speech, stock, speech_url, stock_url


@pytest.fixture
def server_env(services: tuple[Any, Any, str, str]) -> dict[str, str]:
    _, _, speech_url, stock_url = services
    return {
        "MONEYPRINTER_TTS_PROVIDER": "openai",
        "MONEYPRINTER_SPEECH_BASE_URL": f"{speech_url}/v1",
        "MONEYPRINTER_SPEECH_API_KEY": openai_speech.API_KEY,
        "PEXELS_API_KEY": KEY,
        "MONEYPRINTER_PEXELS_BASE_URL": stock_url,
    }


def voice_samples(path: Path, start_s: float, end_s: float) -> bytes:
    with wave.open(str(path), "rb") as voice:
        rate, width = voice.getframerate(), voice.getsampwidth() * voice.getnchannels()
        frames = voice.readframes(voice.getnframes())
    return frames[round(start_s * rate) * width : round(end_s * rate) * width]


def cue_start_s(srt: str, words: str) -> float:
    """When the subtitle cue holding the start of `words` begins."""
    for block in srt.strip().split("\n\n"):
        _, timing, *lines = block.splitlines()
        if words.startswith(" ".join(lines)[:12]):
            hours, minutes, rest = timing.split(" --> ")[0].split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))
    raise AssertionError(f"no cue starts {words!r}")


def top_red(video: Path, at_s: float) -> int:
    """The mean red of the frame's top band at `at_s` (above any subtitle)."""
    raw = subprocess.run(
        [find_ffmpeg(), "-v", "error", "-ss", f"{at_s:.3f}", "-i", str(video), "-frames:v", "1",
         "-vf", "crop=iw:ih/5:0:0,scale=16:16", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return round(sum(raw[0::3]) / (len(raw) / 3))


def test_a_reviewed_video_renders_the_edited_text_and_the_swapped_clip(
    page: Page,
    server: Server,
    services: tuple[Any, Any, str, str],
    media: dict[str, MediaFile],
    tmp_path: Path,
) -> None:
    speech, stock, _, _ = services
    page.goto(f"{server.base_url}/#/")
    page.get_by_label("Subject").fill("Octopuses")
    page.get_by_label("Own script (optional)").fill(SCRIPT)
    page.locator("label.pill", has_text="draft").click()
    page.get_by_label("Footage source").select_option("pexels")
    page.get_by_label("Review before rendering").check()
    page.get_by_role("button", name="Create video").click()
    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[-1]

    expect(page.get_by_test_id("job-state")).to_have_text("awaiting_review", timeout=JOB_TIMEOUT_MS)
    scenes = page.get_by_test_id("scene")
    expect(scenes.first).to_be_visible()
    count = scenes.count()
    assert count >= 3
    with server.api() as client:
        planned = client.get(f"/api/jobs/{job_id}/storyboard").json()
    first = planned["scenes"][0]
    work = tmp_path / "data" / "jobs" / job_id / "1"
    scene_one = voice_samples(work / "voice.wav", first["startS"], first["endS"])
    spoken_before = len(speech.requests)
    # Hovering over a clip plays its small rendition.
    scenes.nth(0).get_by_test_id("scene-clip").hover()
    expect(scenes.nth(0).locator("video")).to_have_attribute("src", re.compile(r"/files/clip-"))
    expect(page.get_by_role("button", name="Play scene 1's voice")).to_be_enabled()
    screenshot(page, "storyboard")

    page.get_by_label("Scene 2 text").fill(NEW_TEXT)
    swap = page.get_by_role("list", name="Other clips for scene 3").get_by_role("button").first
    chosen = re.fullmatch(r"Use Pexels (\d+) for scene 3", swap.get_attribute("aria-label") or "")
    assert chosen is not None
    swap.click()
    expect(scenes.nth(2).get_by_test_id("scene-clip")).to_have_attribute(
        "data-clip", f"Pexels:{chosen[1]}"
    )
    # Scene 1 gets a clip of one's own: clip 7's file, uploaded from this machine.
    own = media["clip-7.mp4"].path
    page.get_by_label("Upload a clip for scene 1").set_input_files(str(own))
    expect(scenes.nth(0).get_by_test_id("scene-clip")).to_have_attribute(
        "data-clip", re.compile(r"^upload:[0-9a-f]{16}\.mp4$")
    )
    # A draft of scene 2 alone, with its new text (the edits are saved first).
    page.get_by_role("button", name="Preview scene 2").click()
    expect(page.get_by_test_id("scene-preview")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    page.get_by_role("button", name="Render the video").click()

    expect(page.get_by_test_id("job-state")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_test_id("video")).to_be_visible()
    screenshot(page, "storyboard-rendered")

    spoken = [str(request["body"]["input"]) for request in speech.requests[spoken_before:]]
    assert spoken == [NEW_TEXT]
    credits = json.loads((work / "footage.json").read_text())["scenes"]
    assert len(credits) == count and str(credits[2]["id"]) == chosen[1]
    srt = (work / "subtitles.srt").read_text()
    cues = [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()]
    assert NEW_TEXT in " ".join(cues)
    assert voice_samples(work / "voice.wav", 0.0, first["endS"]) == scene_one
    # Scene 3's frames come from the clip chosen for it.
    third = cue_start_s(srt, credits[2]["text"])
    assert abs(top_red(work / "video.mp4", third + 0.4) - red_of(int(chosen[1]))) <= 12
    assert credits[0]["source"] == "upload"
    assert abs(top_red(work / "video.mp4", 1.0) - red_of(7)) <= 12
    downloads = [r.path for r in stock.requests if r.path.startswith("/files/")]
    assert downloads.count(f"/files/clip-{chosen[1]}.mp4") == 1


def test_scenes_are_dragged_into_a_new_order_deleted_and_saved(page: Page, server: Server) -> None:
    with server.api() as client:
        queued = client.post(
            "/api/generate",
            json={"videoSubject": "Octopuses", "script": SCRIPT, "review": True,
                  "quality": "draft", "footageSource": "pexels"},
        )  # fmt: skip
    job_id = queued.json()["jobId"]
    page.goto(f"{server.base_url}/#/jobs/{job_id}")
    expect(page.get_by_test_id("job-state")).to_have_text("awaiting_review", timeout=JOB_TIMEOUT_MS)
    scenes = page.get_by_test_id("scene")
    expect(scenes.first).to_be_visible()
    with server.api() as client:
        planned = client.get(f"/api/jobs/{job_id}/storyboard").json()["scenes"]
    texts = [scene["text"] for scene in planned]
    assert len(texts) >= 3

    scenes.nth(2).drag_to(scenes.nth(0))  # the third card dropped on the first
    expect(page.get_by_label("Scene 1 text")).to_have_value(texts[2])
    page.get_by_role("button", name=f"Delete scene {len(texts)}").click()
    expect(scenes).to_have_count(len(texts) - 1)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Storyboard saved.")).to_be_visible()

    with server.api() as client:
        saved = client.get(f"/api/jobs/{job_id}/storyboard").json()
    order = [texts[2], *(text for n, text in enumerate(texts) if n != 2)][: len(texts) - 1]
    assert [scene["text"] for scene in saved["scenes"]] == order
    clips = {scene["text"]: scene["clip"]["key"] for scene in planned}
    assert [scene["clip"]["key"] for scene in saved["scenes"]] == [clips[text] for text in order]
    assert saved["version"] == "1"
