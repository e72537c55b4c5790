"""Generated backgrounds through ffmpeg: each kind renders, passes the same black and
still-frame detectors as the check after the render, and leaves a frame to look at in
test-artifacts/backgrounds/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.settings import find_ffmpeg
from worker.pipeline.qa import frame_probe
from worker.providers.backgrounds import KINDS, PALETTES, background_source

FFMPEG = find_ffmpeg()
FRAMES = Path(__file__).resolve().parents[2] / "test-artifacts" / "backgrounds"
SCENE_S = 5.0


@pytest.mark.parametrize("kind_index", range(len(KINDS)))
def test_each_kind_moves_is_never_black_and_leaves_a_frame(kind_index: int, tmp_path: Path) -> None:
    # The seed's first kind is rotated through by the scene index: one of each.
    palette = PALETTES[kind_index * 3 % len(PALETTES)]
    graph = background_source(
        palette, "a seed", kind_index, width_px=540, height_px=960, duration_s=SCENE_S + 1
    )
    FRAMES.mkdir(parents=True, exist_ok=True)
    frame = FRAMES / f"{kind_index}-{palette.name}.png"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", graph, "-filter_complex",
         f"[0]scale=540:960,format=yuv420p,split[a][b];[a]{frame_probe(SCENE_S, log='frames.txt')};"
         "[b]select='eq(n,90)'[still]", "-map", "[still]", "-frames:v", "1", str(frame)],
        cwd=tmp_path, check=True, timeout=120,
    )  # fmt: skip
    noted = (tmp_path / "frames.txt").read_text()
    assert "black_start" not in noted and "freeze_start" not in noted, noted
    assert frame.stat().st_size > 0


def test_the_lookup_paints_grey_levels_in_the_palettes_colours(tmp_path: Path) -> None:
    palette = PALETTES[1]
    for grey, colour in ((0, palette.dark), (128, palette.middle), (255, palette.light)):
        completed = subprocess.run(
            [FFMPEG, "-v", "error", "-f", "lavfi",
             "-i", f"color=c=0x{grey:02x}{grey:02x}{grey:02x}:s=8x8:d=0.04,{palette.lookup()}",
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            capture_output=True, check=True, timeout=30,
        )  # fmt: skip
        expected = bytes.fromhex(colour)
        assert all(abs(a - b) <= 2 for a, b in zip(completed.stdout[:3], expected, strict=True))
