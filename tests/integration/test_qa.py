"""The check after the render, on videos made with ffmpeg to fail each check (a good render's
checks are in the worker's and the render's own tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.settings import find_ffmpeg
from worker.pipeline.qa import Expected, inspect_video

FFMPEG = find_ffmpeg()


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", *map(str, args)], check=True, timeout=120,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 6 s MPEG-4 Part 2 video, 360×640, index at the end: 2 s of black, then one frame held
    for 4 s; its sound is a whisper with one clipped burst. A voice with a 3 s hole, and
    subtitles that cover only its first half second."""
    folder = tmp_path_factory.mktemp("bad")
    video, voice, srt = folder / "video.mp4", folder / "voice.wav", folder / "voice.srt"
    ffmpeg(
        "-f", "lavfi", "-i", "color=black:s=360x640:r=30:d=2",
        "-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=0.04,tpad=stop_mode=clone:stop_duration=4",
        "-f", "lavfi", "-i", "sine=f=440:d=6,volume=0.003",
        "-f", "lavfi", "-i", "aevalsrc=if(lt(t\\,0.2)\\,sgn(sin(2*PI*300*t))\\,0):d=6",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v];[2:a][3:a]amix=2:normalize=0[a]",
        "-map", "[v]", "-map", "[a]", "-c:v", "mpeg4", "-c:a", "aac", "-t", "6", video,
    )  # fmt: skip
    ffmpeg(
        "-f", "lavfi", "-i", "sine=f=300:d=1", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=3",
        "-f", "lavfi", "-i", "sine=f=300:d=1",
        "-filter_complex", "[0:a][1:a][2:a]concat=n=3:v=0:a=1", voice,
    )  # fmt: skip
    srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nHello\n\n", encoding="utf-8")
    return {"video": video, "voice": voice, "srt": srt}


def test_each_check_fails_on_a_video_made_to_fail_it(bad: dict[str, Path]) -> None:
    expected = Expected(540, 960, bad["voice"], 5.0, bad["srt"], scene_s=2.0)

    report = inspect_video(bad["video"], expected, ffmpeg_exe=FFMPEG)

    by_name = {check.name: check for check in report.checks}
    assert not report.passed
    assert [name for name, check in by_name.items() if check.passed] == []
    assert by_name["duration"].measured == "6.00 s"
    # The gate leaves only the burst's blocks in the integrated loudness: far too loud.
    assert float(by_name["loudness"].measured.split()[0]) > -12
    assert float(by_name["true peak"].measured.split()[0]) > -1
    assert by_name["black frames"].measured.startswith("2.0 s at 0.0 s")
    assert "at 2.0 s" in by_name["frozen frames"].measured
    assert by_name["silence in the voice"].measured.startswith("longest 3.0 s at 1.0 s")
    assert by_name["subtitles cover the voice"].measured == "25%"
    assert by_name["faststart"].measured == "index after the media"
    assert by_name["codecs"].measured == "mpeg4, aac, yuv420p"
    assert by_name["frame size"].measured == "360×640"


def test_missing_subtitles_fail_their_check(bad: dict[str, Path], tmp_path: Path) -> None:
    expected = Expected(360, 640, bad["voice"], 5.0, tmp_path / "none.srt", scene_s=2.0)

    report = inspect_video(bad["video"], expected, ffmpeg_exe=FFMPEG)

    [cues] = [check for check in report.checks if check.name == "subtitles cover the voice"]
    assert (cues.passed, cues.measured) == (False, "no subtitles")
