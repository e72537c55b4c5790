"""Draws docs/images/backgrounds.jpg, the README's sheet of generated backgrounds: each kind in
a few palettes, one frame at 3 s, as the render would show it at 1080×1920 (scaled down).

    .venv/bin/python scripts/background_frames.py
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from app.settings import find_ffmpeg
from worker.providers.backgrounds import KINDS, PALETTES, background_source

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "backgrounds.jpg"
SHOWN = ("ocean", "dusk", "forest", "gold")  # one row each
TILE_PX = (180, 320)


def main() -> None:
    ffmpeg = find_ffmpeg()
    palettes = {palette.name: palette for palette in PALETTES}
    with tempfile.TemporaryDirectory() as scratch:
        tiles = []
        for row, name in enumerate(SHOWN):
            for scene in range(len(KINDS)):
                # The same seed for every row: scene n is the same kind in every palette.
                graph = background_source(
                    palettes[name], "frames", scene, width_px=1080, height_px=1920, duration_s=4
                )
                tile = Path(scratch) / f"{row}-{scene}.png"
                subprocess.run(
                    [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", graph, "-vf",
                     f"select='eq(n,90)',scale=1080:1920,scale={TILE_PX[0]}:{TILE_PX[1]}",
                     "-frames:v", "1", str(tile)],
                    check=True, timeout=120,
                )  # fmt: skip
                tiles.append(tile)
        inputs = [argument for tile in tiles for argument in ("-i", str(tile))]
        columns = len(KINDS)
        layout = "|".join(
            f"{(i % columns) * TILE_PX[0]}_{(i // columns) * TILE_PX[1]}" for i in range(len(tiles))
        )
        OUT.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", *inputs, "-filter_complex",
             f"xstack=inputs={len(tiles)}:layout={layout}", "-q:v", "4", str(OUT)],
            check=True, timeout=120,
        )  # fmt: skip
    print(OUT)


if __name__ == "__main__":
    main()
