"""A failed render as the user reads it, with real ffmpeg: a short message naming the file, no
path of the host, and the whole log kept in the job's folder (ffmpeg.log)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.media import Clip
from app.settings import find_ffmpeg
from worker.errors import PipelineError
from worker.pipeline.ffmpeg import GIST_CHARS, LOG_NAME
from worker.pipeline.render import plan_render, render_video

FFMPEG = find_ffmpeg()
GENERATED = Clip("generated", "x", 4.0, 640, 360, lavfi="testsrc2=s=640x360:r=30:d=4")

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe")


def render(work_dir: Path, *, clip: Clip, voice: Path | None) -> PipelineError:
    plan = plan_render(
        aspect="9:16", quality="draft", duration_s=3.0, clips=[clip], scene_lengths_s=[3.0],
        voice=voice, subtitles=None, music=None, music_volume=0.1, fonts_dir=None,
    )  # fmt: skip
    with pytest.raises(PipelineError) as raised:
        render_video(plan, work_dir, ffmpeg_exe=FFMPEG, on_progress=lambda _: None)
    return raised.value


def test_a_broken_file_in_the_jobs_folder_is_named_relative_to_it(tmp_path: Path) -> None:
    work_dir = tmp_path / "data" / "jobs" / "0b7c" / "1"
    work_dir.mkdir(parents=True)
    voice = work_dir / "voice.wav"
    voice.write_bytes(b"RIFF but not a wave file at all" * 100)

    error = render(work_dir, clip=GENERATED, voice=voice)

    assert error.retryable is False
    assert "voice.wav: Invalid data found when processing input" in error.message
    assert str(tmp_path) not in error.message and "file:" not in error.message
    assert len(error.message) <= GIST_CHARS + 100
    assert f"{voice}: Invalid data" in (work_dir / LOG_NAME).read_text()  # the whole log, kept


def test_a_broken_file_elsewhere_is_named_by_its_name_alone(tmp_path: Path) -> None:
    media_dir = tmp_path / "srv" / "media"
    media_dir.mkdir(parents=True)
    broken = media_dir / "octopus.mp4"
    broken.write_bytes(b"not a video" * 1000)
    work_dir = tmp_path / "work"
    work_dir.mkdir()

    error = render(
        work_dir, clip=Clip("local", "x", 5.0, 640, 360, path=broken, container="mov"), voice=None
    )

    assert "octopus.mp4: Invalid data found when processing input" in error.message
    assert str(tmp_path) not in error.message and "file:" not in error.message
    assert str(broken) in (work_dir / LOG_NAME).read_text()
