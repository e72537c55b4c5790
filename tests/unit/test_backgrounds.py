"""Generated backgrounds as lavfi graphs, without ffmpeg: timing, variety, palettes."""

from __future__ import annotations

import itertools
import re

import pytest

from worker.pipeline.match import keyword_relevance, palette_for
from worker.providers.backgrounds import KINDS, PALETTES, background_source

DUSK = PALETTES[0]


def _filters(graph: str) -> list[tuple[str, str]]:
    """A lavfi chain as (filter, options), split at the commas outside quotes."""
    parts = re.findall(r"(?:[^,']|'[^']*')+", graph)
    return [tuple(part.split("=", 1)) if "=" in part else (part, "") for part in parts]


@pytest.mark.parametrize("scene_index", range(len(KINDS) + 1))
def test_a_background_is_a_30_fps_graph_of_the_scene_length(scene_index: int) -> None:
    filters = _filters(
        background_source(DUSK, "tides", scene_index, width_px=1080, height_px=1920, duration_s=6.5)
    )
    names = [name for name, _ in filters]
    assert names == [
        "nullsrc", "geq", "framerate", "format", "lutrgb", "hue", "trim"
    ]  # fmt: skip
    assert filters[0][1].startswith("s=48x85:r=6")  # drawn small and slowly
    assert filters[2][1] == "fps=30"
    assert filters[-1][1] == "duration=6.500"


def test_backgrounds_vary_per_scene_and_repeat_per_seed() -> None:
    def graphs(seed: str) -> list[str]:
        return [
            background_source(DUSK, seed, index, width_px=540, height_px=960, duration_s=4.0)
            for index in range(8)
        ]

    first = graphs("tides")
    assert first == graphs("tides")
    assert len(set(first)) == len(first)
    assert first != graphs("volcanoes")
    # Neighbouring scenes never share a kind: each kind draws its own number of terms.
    shapes = [graph.count("exp(") * 10 + graph.count("sin(") for graph in first]
    assert all(a != b for a, b in itertools.pairwise(shapes))


def test_every_palette_is_bright_enough_to_never_read_as_black() -> None:
    """The darkest colour, as ffmpeg converts it to limited-range video (BT.601), stays above
    what the check after the render counts as black: 10 % of the way from 16 to 235."""
    black_below = 16 + 0.10 * (235 - 16)
    for palette in PALETTES:
        red, green, blue = (int(palette.dark[i : i + 2], 16) for i in (0, 2, 4))
        luma = 16 + (65.481 * red + 128.553 * green + 24.966 * blue) / 255
        assert luma >= black_below + 2, palette.name


def test_the_palette_follows_the_subject() -> None:
    assert palette_for("sea turtles of the ocean", keyword_relevance).name == "ocean"
    assert palette_for("making money", keyword_relevance).name == "gold"
