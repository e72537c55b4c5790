"""The render stage's plan and ffmpeg command, and its progress parsing, without running ffmpeg."""

from __future__ import annotations

import pytest

from app.domain import Aspect, Quality
from worker.pipeline.render import (
    background_source,
    ffmpeg_command,
    frame_size_px,
    plan_render,
    progress_fraction,
)


@pytest.mark.parametrize(
    ("aspect", "quality", "size"),
    [
        ("9:16", "standard", (1080, 1920)),
        ("16:9", "high", (1920, 1080)),
        ("1:1", "standard", (1080, 1080)),
        ("9:16", "draft", (540, 960)),
        ("16:9", "draft", (960, 540)),
    ],
)
def test_frame_size_follows_aspect_and_quality(
    aspect: Aspect, quality: Quality, size: tuple[int, int]
) -> None:
    assert frame_size_px(aspect, quality) == size


def test_command_encodes_h264_yuv420p_aac_at_30_fps_with_faststart() -> None:
    plan = plan_render(subject="tides", aspect="9:16", quality="draft", duration_s=4.25)

    command = ffmpeg_command(
        plan, ffmpeg_exe="ffmpeg", voice_name="voice.wav", ass_name="subtitles.ass",
        output_name="video.mp4.part",
    )  # fmt: skip

    joined = " ".join(command)
    for expected in (
        "-c:v libx264", "-preset ultrafast", "-pix_fmt yuv420p", "-r 30", "-c:a aac",
        "-movflags +faststart", "-progress pipe:1", "-t 4.250", "-i voice.wav",
        "-f mp4 video.mp4.part",
    ):  # fmt: skip
        assert expected in joined
    assert "scale=540:960" in joined and "ass=subtitles.ass" in joined


def test_command_without_a_voice_uses_silence_of_the_same_length() -> None:
    plan = plan_render(subject="tides", aspect="1:1", quality="standard", duration_s=3.0)

    command = ffmpeg_command(
        plan, ffmpeg_exe="ffmpeg", voice_name=None, ass_name="s.ass", output_name="v.part"
    )

    assert "anullsrc=r=48000:cl=stereo:d=3.000" in command
    assert "-preset" in command and command[command.index("-preset") + 1] == "veryfast"


def test_background_is_stable_per_subject_and_differs_between_subjects() -> None:
    first = background_source("Octopuses", width_px=540, height_px=960, duration_s=2.0)

    assert first == background_source(" octopuses ", width_px=540, height_px=960, duration_s=2.0)
    assert first != background_source("Volcanoes", width_px=540, height_px=960, duration_s=2.0)
    assert first.startswith("gradients=s=135x240:r=30:d=2.000:")


@pytest.mark.parametrize(
    ("line", "fraction"),
    [
        ("out_time_us=1500000\n", 0.5),
        ("out_time_us=9000000", 1.0),
        ("out_time_us=-9223372036854775807", 0.0),
        ("out_time_us=N/A", None),
        ("progress=continue", None),
        ("frame=12", None),
    ],
)
def test_progress_lines_give_the_fraction_done(line: str, fraction: float | None) -> None:
    assert progress_fraction(line, 3.0) == fraction
