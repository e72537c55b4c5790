"""The thumbnail: a frame of a tiny ffmpeg test video with the title drawn inside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from app.settings import find_ffmpeg
from worker.pipeline.metadata import make_thumbnail

FFMPEG = find_ffmpeg()


@pytest.fixture
def tiny_video(tmp_path: Path) -> Path:
    video = tmp_path / "video.mp4"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-f", "lavfi",
         "-i", "color=c=0x3366aa:s=180x320:d=1:r=10", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    return video


@pytest.mark.parametrize("at_s", [0.5, 30.0], ids=["inside", "past the end"])
def test_thumbnail_is_a_jpeg_of_the_frame_with_the_title_drawn(
    tiny_video: Path, tmp_path: Path, at_s: float
) -> None:
    assert FFMPEG is not None
    plain = make_thumbnail(
        tiny_video, tmp_path / "plain.jpg", title="", at_s=at_s, ffmpeg_exe=FFMPEG, font_path=None
    )
    titled = make_thumbnail(
        tiny_video, tmp_path / "thumbnail.jpg", title="Why octopuses are the smartest animals",
        at_s=at_s, ffmpeg_exe=FFMPEG, font_path=None,
    )  # fmt: skip

    with Image.open(titled) as image, Image.open(plain) as frame:
        assert image.format == "JPEG" and image.size == (180, 320)
        diff = ImageChops.difference(image.convert("RGB"), frame.convert("RGB")).getbbox()
    assert diff is not None
    _, top_px, _, bottom_px = diff
    assert 0 < top_px < 160 < bottom_px < 320  # the title sits across the middle, inside the frame
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "plain.jpg", "thumbnail.jpg", "video.mp4",
    ]  # fmt: skip


def test_thumbnail_title_stays_inside_narrow_frames(tiny_video: Path, tmp_path: Path) -> None:
    assert FFMPEG is not None
    out = make_thumbnail(
        tiny_video, tmp_path / "t.jpg", title="Pneumonoultramicroscopicsilicovolcanoconiosis " * 6,
        at_s=0.0, ffmpeg_exe=FFMPEG, font_path=tmp_path / "missing.ttf",
    )  # fmt: skip

    with Image.open(out) as image:
        # The outline is black: the left and right edge columns keep the darkened frame colour.
        edge = image.convert("RGB").crop((0, 0, 2, 320))
        assert min(min(band) for band in edge.getextrema()) > 10
