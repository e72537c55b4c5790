"""Generated moving backgrounds, the footage of a video made offline: slow gradient flows, soft
bokeh, light leaks and drifting colour fields, in a palette picked for the subject and varied
from scene to scene. They are made to sit under captions: soft, slow, never black, never a
pattern that reads as a test card.

Each is an ffmpeg source graph: a grey field drawn by `geq` at a small fraction of the frame
(these fields are smooth, so the render's scale-up loses nothing, and drawing small keeps them
cheap), mapped onto the palette's three colours by a lookup table.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.media import Clip
from worker.providers.footage import Scene

FPS = 30  # the output frame rate (render.FPS): lavfi sources must produce it themselves


@dataclass(frozen=True)
class Palette:
    """Three colours, darkest first, and the words of the subjects it suits."""

    name: str
    dark: str  # RRGGBB; bright enough that the video's black-frame check never fires
    middle: str
    light: str
    mood: str

    def lookup(self) -> str:
        """A grey level's colour: dark at 0, middle at 128, light at 255, linear between."""
        channels = []
        for name, shift in (("r", 16), ("g", 8), ("b", 0)):
            low, mid, high = ((int(colour, 16) >> shift) & 255 for colour in self.colours)
            channels.append(
                f"{name}='if(lt(val,128),{low}+{mid - low}*val/128,"
                f"{mid}+{high - mid}*(val-128)/127)'"
            )
        return f"format=rgb24,lutrgb={':'.join(channels)}"

    @property
    def colours(self) -> tuple[str, str, str]:
        return self.dark, self.middle, self.light


PALETTES = (
    Palette("dusk", "2e1c4f", "c2476b", "ffc48a", "evening sunset romance music art city night"),
    Palette("ocean", "0c3550", "137f8f", "a6ece0", "ocean sea water fish whales beach travel"),
    Palette("forest", "193524", "4a8a52", "d4eeb0", "nature forest plants animals garden earth"),
    Palette("ember", "3a1610", "c0462a", "ffbf5e", "fire volcano energy sport cooking coffee"),
    Palette("space", "1a1840", "4a3fa8", "a9d2ff", "space stars planets science technology"),
    Palette("gold", "33270f", "b07d22", "ffe6a3", "money finance business wealth history"),
    Palette("rose", "3a1628", "d4628c", "ffd6e2", "love beauty fashion cats pets kids"),
    Palette("mint", "143430", "35a892", "dcfff3", "health fitness medicine calm meditation"),
    Palette("slate", "1f2a36", "5a7087", "e2e9f0", "productivity work news education facts"),
    Palette("citrus", "3a2608", "ef8d2a", "fff1a8", "food summer fun holidays fruit"),
)


# The fields are drawn this small and this slowly, then blended up to 30 fps and scaled up to the
# frame: they are smooth and slow, so nothing shows, and `geq` (an interpreted expression per
# pixel) costs about 0.1 CPU s per second of video instead of 2.
DRAW_WIDTH_PX = 48
DRAW_FPS = 6


def _size(width_px: int, height_px: int) -> str:
    return f"{DRAW_WIDTH_PX}x{max(8, round(DRAW_WIDTH_PX * height_px / width_px))}"


def _grey(size: str, expression: str) -> str:
    """A grey field at 30 fps from a `geq` expression in x, y (0..1 across the frame, y scaled to
    the frame's aspect) and T (seconds), whose value 0..1 becomes the grey level."""
    return (
        f"nullsrc=s={size}:r={DRAW_FPS},geq=lum='255*clip({expression},0,1)':cb=128:cr=128,"
        f"framerate=fps={FPS}"
    )


def _coordinates(aspect: float) -> dict[str, str]:
    return {"x": "(X/W)", "y": f"(Y/H*{aspect:.4f})"}


def _waves(
    rng: random.Random, c: dict[str, str], amplitudes: list[float], *, turn: float,
    cycles: tuple[float, float], speed: tuple[float, float],
) -> str:  # fmt: skip
    """Sine waves crossing the frame at random angles (up to `turn`), each with its amplitude,
    `cycles` across the frame and `speed` cycles a second, summed around mid-grey."""
    waves = []
    for amplitude in amplitudes:
        angle = rng.uniform(0, turn)
        along = f"({c['x']}*{math.cos(angle):.3f}+{c['y']}*{math.sin(angle):.3f})"
        waves.append(
            f"{amplitude}*sin(6.2832*({rng.uniform(*cycles):.3f}*{along}"
            f"+{rng.uniform(*speed):.4f}*T)+{rng.uniform(0, 6.28):.2f})"
        )
    return f"0.5+{'+'.join(waves)}"


def _flow(rng: random.Random, width_px: int, height_px: int) -> str:
    """Three slow waves crossing at angles: a gradient that drifts and folds over itself."""
    c = _coordinates(height_px / width_px)
    field = _waves(rng, c, [0.22, 0.16, 0.12], turn=math.pi, cycles=(0.25, 0.7), speed=(0.02, 0.06))
    return _grey(_size(width_px, height_px), field)


DISCS = 8


def _bokeh(rng: random.Random, width_px: int, height_px: int) -> str:
    """Soft discs of light rising slowly over a dim gradient, as out-of-focus lights do."""
    aspect = height_px / width_px
    c = _coordinates(aspect)
    discs = []
    heights = list(range(DISCS))
    rng.shuffle(heights)  # spread over the frame both ways: one disc per column and per band
    for index, band in enumerate(heights):
        radius = rng.uniform(0.06, 0.16)
        column = (index + rng.uniform(0.2, 0.8)) / DISCS
        phase = (band + rng.uniform(0.1, 0.9)) / DISCS * 1.3
        rise = rng.uniform(0.012, 0.03) * aspect
        centre_x = f"({column:.3f}+0.04*sin({rng.uniform(0.1, 0.3):.3f}*T+{phase * 5:.2f}))"
        lap = aspect * 1.3  # from below the frame to above it
        centre_y = f"({aspect * 1.15:.3f}-mod({phase * aspect:.3f}+{rise:.4f}*T,{lap:.3f}))"
        discs.append(
            f"{rng.uniform(0.3, 0.7):.2f}*exp(-(pow({c['x']}-{centre_x},2)"
            f"+pow({c['y']}-{centre_y},2))/{radius * radius:.4f})"
        )
    base = f"0.12+0.14*{c['y']}/{aspect:.4f}"
    return _grey(_size(width_px, height_px), f"{base}+{'+'.join(discs)}")


def _leaks(rng: random.Random, width_px: int, height_px: int) -> str:
    """Two long glows sweeping across the frame, as light leaking into a film camera."""
    aspect = height_px / width_px
    c = _coordinates(aspect)
    glows = []
    for strength in (0.75, 0.5):
        period = rng.uniform(18, 30)
        angle = rng.uniform(-0.6, 0.6)
        dx = f"({c['x']}-(-0.6+2.2*mod(T/{period:.1f}+{rng.uniform(0, 1):.2f},1)))"
        dy = f"({c['y']}-{rng.uniform(0.2, 0.8) * aspect:.3f})"
        cos, sin = f"{math.cos(angle):.3f}", f"{math.sin(angle):.3f}"
        across, along = f"({dx}*{cos}-{dy}*{sin})", f"({dx}*{sin}+{dy}*{cos})"
        glows.append(
            f"{strength}*exp(-pow({across},2)/{rng.uniform(0.05, 0.12):.3f}"
            f"-pow({along},2)/{rng.uniform(0.6, 1.2):.2f})"
        )
    base = f"0.15+0.1*sin(6.2832*{c['y']}/{aspect:.4f}/2)"
    return _grey(_size(width_px, height_px), f"{base}+{'+'.join(glows)}")


def _fields(rng: random.Random, width_px: int, height_px: int) -> str:
    """Blurred colour clouds: eight soft waves at scattered angles and speeds, which read as a
    slowly stirring noise field."""
    c = _coordinates(height_px / width_px)
    field = _waves(rng, c, [0.055] * 8, turn=2 * math.pi, cycles=(0.5, 1.4), speed=(0.015, 0.05))
    return _grey(_size(width_px, height_px), field)


Kind = Callable[[random.Random, int, int], str]
KINDS: dict[str, Kind] = {"flow": _flow, "bokeh": _bokeh, "leaks": _leaks, "fields": _fields}
HUE_SHIFT_DEG = 12  # scenes of one video vary their palette's hue by up to this either way


def background_source(
    palette: Palette, seed: str, scene_index: int, *, width_px: int, height_px: int,
    duration_s: float,
) -> str:  # fmt: skip
    """A lavfi source graph at 30 fps lasting `duration_s`: the kind rotates from scene to scene
    (neighbours never share one), its motion and the palette's hue vary with the seed and the
    scene, and the same seed gives the same video."""
    kinds = list(KINDS.values())
    first = random.Random(seed).randrange(len(kinds))
    kind = kinds[(first + scene_index) % len(kinds)]
    rng = random.Random(f"{seed}:{scene_index}")
    grey = kind(rng, width_px, height_px)
    hue = rng.uniform(-HUE_SHIFT_DEG, HUE_SHIFT_DEG)
    return f"{grey},{palette.lookup()},hue=h={hue:.1f},trim=duration={duration_s:.3f}"


class GeneratedFootage:
    """The offline default: a moving background for every scene, never nothing."""

    name = "generated"

    def __init__(self, palette: Palette, *, seed: str, width_px: int, height_px: int) -> None:
        self._palette = palette
        self._seed = seed
        self._width_px = width_px
        self._height_px = height_px

    def find(self, scene: Scene, *, work_dir: Path) -> Clip:
        lavfi = background_source(
            self._palette, self._seed, scene.index, width_px=self._width_px,
            height_px=self._height_px, duration_s=scene.duration_s,
        )  # fmt: skip
        return Clip(
            source=self.name, term=scene.term, duration_s=scene.duration_s,
            width_px=self._width_px, height_px=self._height_px, lavfi=lavfi,
        )  # fmt: skip
