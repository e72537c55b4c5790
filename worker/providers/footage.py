"""Footage providers: the Protocol, a local media folder, and generated moving backgrounds."""

from __future__ import annotations

import colorsys
import random
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from worker.media import (
    VIDEO_CONTAINER_NAMES,
    VIDEO_CONTAINERS,
    Clip,
    find_ffprobe,
    forced_input,
    probe_media,
    sniff_container,
)

FPS = 30  # the output frame rate (render.FPS): lavfi sources must produce it themselves
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv"})
STOP_WORDS = frozenset({"a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to", "with"})
PROBE_TIMEOUT_S = 30.0


Warn = Callable[[str], None]  # a warning for the job's log


@dataclass(frozen=True)
class Scene:
    index: int
    term: str  # what the sources are searched for
    duration_s: float
    text: str = ""  # the narration the clip plays under: what the ranking matches


@dataclass(frozen=True)
class Candidate:
    """A clip a source offers, known by what the source says of it. A local file's duration and
    size are 0 until `FootageProvider.probe` has read them; a stock clip's are the rendition
    that would be downloaded."""

    source: str  # the provider's name
    clip_id: str  # the source's id for the clip: a stock id, a local path below the folder
    description: str  # the source's words for it: page slug, tags, file name, sidecar
    duration_s: float = 0.0
    width_px: int = 0
    height_px: int = 0
    page_url: str = ""  # where the clip, its author and its licence are shown
    author: str = ""

    @property
    def key(self) -> str:
        """Unique across sources: what a video, and the recent videos, must not repeat."""
        return f"{self.source}:{self.clip_id}"

    @property
    def probed(self) -> bool:
        return self.duration_s > 0 and self.width_px > 0 and self.height_px > 0


class FootageProvider(Protocol):
    """A source of clips: `candidates` lists what it offers for a scene (raising ProviderError
    when its service fails), `probe` completes a candidate's facts (None: unplayable), `fetch`
    makes the chosen one a clip in the work folder (None: it turned out not to be a video)."""

    name: str

    def candidates(self, scene: Scene) -> list[Candidate]: ...

    def probe(self, candidate: Candidate) -> Candidate | None: ...

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None: ...


def words(text: str) -> set[str]:
    """Lower-case words without stop words, plurals folded ("Ocean_Waves" → {"ocean", "wave"})."""
    found = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return found


def sidecar_text(video: Path) -> str:
    """The description file `<name>.txt` (or `<name>.mp4.txt`): free text or tags."""
    for sidecar in (video.with_suffix(".txt"), video.with_name(video.name + ".txt")):
        if sidecar.is_file():
            return " ".join(sidecar.read_text("utf-8", "replace").split())
    return ""


def file_description(name: str, sidecar: str = "") -> str:
    """A file name as words ("b-roll_coffee_pour.mov" → "b roll coffee pour"), and its sidecar."""
    stem = Path(name).stem
    named = " ".join(re.findall(r"[^\W_]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)))
    return f"{named}. {sidecar}" if sidecar else named


@dataclass(frozen=True)
class MediaFacts:
    duration_s: float
    width_px: int
    height_px: int
    container: str  # ffmpeg's demuxer for the file: one of VIDEO_CONTAINERS


class LocalFootage:
    """Video files in a folder (and below), described by their names and sidecar files."""

    name = "local"

    def __init__(self, media_dir: Path, *, ffmpeg_exe: str, warn: Warn) -> None:
        self._media_dir = media_dir
        self._ffmpeg_exe = ffmpeg_exe
        self._warn = warn
        self._ffprobe_exe = find_ffprobe(ffmpeg_exe)
        self._probed: dict[str, MediaFacts | None] = {}  # None: not a playable video
        self._files = [
            path
            for path in sorted(media_dir.rglob("*"))
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(media_dir).parts)
        ]  # fmt: skip
        self._offered = [
            Candidate(
                self.name,
                path.relative_to(media_dir).as_posix(),
                file_description(path.name, sidecar_text(path)),
            )
            for path in self._files
        ]

    @property
    def has_videos(self) -> bool:
        return bool(self._files)

    def candidates(self, scene: Scene) -> list[Candidate]:
        """Every file not known to be unplayable: the folder is not searched, the ranking reads
        all of it."""
        return [c for c in self._offered if self._probed.get(c.clip_id, True) is not None]

    def probe(self, candidate: Candidate) -> Candidate | None:
        if candidate.clip_id not in self._probed:
            self._probed[candidate.clip_id] = self._facts(self._media_dir / candidate.clip_id)
        facts = self._probed[candidate.clip_id]
        if facts is None:
            return None
        return replace(
            candidate, duration_s=facts.duration_s, width_px=facts.width_px,
            height_px=facts.height_px,
        )  # fmt: skip

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None:
        facts = self._probed.get(candidate.clip_id)
        if facts is None:
            return None
        return Clip(
            source=self.name, term=scene.term, duration_s=facts.duration_s,
            width_px=facts.width_px, height_px=facts.height_px,
            path=(self._media_dir / candidate.clip_id).resolve(), container=facts.container,
        )  # fmt: skip

    def _facts(self, path: Path) -> MediaFacts | None:
        """ffprobe's facts, else ffmpeg's banner (the imageio-ffmpeg wheel ships no ffprobe);
        None, with a warning, for a file that is not in a video container."""
        container = sniff_container(path)
        if container not in VIDEO_CONTAINERS:
            self._warn(f"local: {path.name} is not an {VIDEO_CONTAINER_NAMES} video; skipped")
            return None
        facts = probe_media(path, ffprobe_exe=self._ffprobe_exe, container=container)
        if facts is None:
            return probe_with_ffmpeg(path, ffmpeg_exe=self._ffmpeg_exe, container=container)
        duration_s, width_px, height_px = (
            facts.get("durationS"), facts.get("widthPx"), facts.get("heightPx")
        )  # fmt: skip
        if not duration_s or not width_px or not height_px:
            return None
        return MediaFacts(float(duration_s), int(width_px), int(height_px), container)


def probe_with_ffmpeg(
    path: Path, *, ffmpeg_exe: str, container: str | None = None
) -> MediaFacts | None:
    """Duration and size from ffmpeg's banner; None for a file in no video container.
    `container`: the file's, when the caller has sniffed it already."""
    container = container or sniff_container(path)
    if container is None or container not in VIDEO_CONTAINERS:
        return None
    try:
        completed = subprocess.run(
            [ffmpeg_exe, "-hide_banner", "-nostdin", *forced_input(container, path)],
            capture_output=True, timeout=PROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    banner = completed.stderr.decode("utf-8", "replace")  # exits 1: no output file was named
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", banner)
    size = re.search(r"Stream #.*?Video: .*?, (\d{2,5})x(\d{2,5})", banner)
    if duration is None or size is None:
        return None
    hours, minutes, seconds = duration.groups()
    duration_s = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return MediaFacts(duration_s, int(size.group(1)), int(size.group(2)), container)


# Generated backgrounds. Each kind draws at a fraction of the frame size (the renderer scales it
# up: these sources are smooth or blocky by nature, and drawing small keeps them nearly free).


def _colour(rng: random.Random, *, value: tuple[float, float] = (0.35, 0.8)) -> str:
    red, green, blue = colorsys.hsv_to_rgb(
        rng.random(), rng.uniform(0.45, 0.85), rng.uniform(*value)
    )
    return f"0x{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def _size(width_px: int, height_px: int, downscale: int) -> str:
    return f"{max(8, width_px // downscale)}x{max(8, height_px // downscale)}"


def _gradients(rng: random.Random, width_px: int, height_px: int, duration_s: float) -> str:
    colours = [f"c{i}={_colour(rng)}" for i in range(rng.randint(2, 4))]
    kind = rng.choice(("linear", "radial", "circular", "spiral"))
    return (
        f"gradients=s={_size(width_px, height_px, 4)}:r={FPS}:n={len(colours)}:"
        f"{':'.join(colours)}:type={kind}:speed={rng.uniform(0.005, 0.03):.4f}:"
        f"seed={rng.randrange(2**31)}"
    )


# Points on the Mandelbrot set's edge that stay detailed while zooming in.
MANDELBROT_POINTS = (
    (-0.743643887037151, 0.131825904205330),
    (-0.745300000000000, 0.112700000000000),
    (-0.160000000000000, 1.040500000000000),
    (-1.250660000000000, 0.020120000000000),
    (0.281717921930775, 0.577105284148850),
)


def _mandelbrot(rng: random.Random, width_px: int, height_px: int, duration_s: float) -> str:
    start_x, start_y = rng.choice(MANDELBROT_POINTS)
    # end_pts counts frames at this rate: the zoom spans the whole scene.
    return (
        f"mandelbrot=s={_size(width_px, height_px, 4)}:r={FPS}:maxiter=256:"
        f"start_x={start_x}:start_y={start_y}:start_scale={rng.uniform(2.0, 3.0):.3f}:"
        f"end_scale={rng.uniform(0.02, 0.2):.3f}:end_pts={max(1, round(duration_s * FPS))},"
        f"hue=h={rng.randrange(360)}"
    )


def _life(rng: random.Random, width_px: int, height_px: int, duration_s: float) -> str:
    # A few generations a second, held for several frames: a full-rate game of life flickers.
    rule = rng.choice(("B3/S23", "B36/S23", "B3678/S34678"))
    return (
        f"life=s={_size(width_px, height_px, 12)}:r={rng.choice((4, 6, 10))}:rule={rule}:"
        f"ratio={rng.uniform(0.15, 0.4):.2f}:seed={rng.randrange(2**31)}:mold={rng.randint(8, 40)}:"
        f"life_color={_colour(rng, value=(0.8, 1.0))}:death_color={_colour(rng, value=(0.1, 0.3))}:"
        f"mold_color={_colour(rng, value=(0.3, 0.6))},fps=fps={FPS}"
    )


def _two_colours(rng: random.Random) -> str:
    """Map black and white (0 and 255 in every channel) onto a dark and a light colour."""
    dark, light = _colour(rng, value=(0.1, 0.3)), _colour(rng, value=(0.7, 1.0))
    channels = []
    for name, shift in (("r", 16), ("g", 8), ("b", 0)):
        low, high = (int(dark, 16) >> shift) & 255, (int(light, 16) >> shift) & 255
        channels.append(f"{name}={low}+val*{(high - low) / 255:.4f}")
    return f"format=pix_fmts=rgb24,lutrgb={':'.join(channels)}"


def _cellauto(rng: random.Random, width_px: int, height_px: int, duration_s: float) -> str:
    # cellauto draws one row per frame: a low rate keeps the scroll calm.
    return (
        f"cellauto=s={_size(width_px, height_px, 16)}:r={rng.choice((6, 10))}:"
        f"rule={rng.choice((18, 30, 90, 110, 150))}:ratio=0.5:seed={rng.randrange(2**31)},"
        f"{_two_colours(rng)},fps=fps={FPS}"
    )


def _sierpinski(rng: random.Random, width_px: int, height_px: int, duration_s: float) -> str:
    return (
        f"sierpinski=s={_size(width_px, height_px, 4)}:r={FPS}:seed={rng.randrange(2**31)}:"
        f"jump={rng.randint(1, 3)}:type={rng.choice(('carpet', 'triangle'))},{_two_colours(rng)}"
    )


SourceKind = Callable[[random.Random, int, int, float], str]
GENERATED_KINDS: dict[str, SourceKind] = {
    "gradients": _gradients,
    "mandelbrot": _mandelbrot,
    "life": _life,
    "cellauto": _cellauto,
    "sierpinski": _sierpinski,
}


def generated_source(
    seed: str, scene_index: int, *, width_px: int, height_px: int, duration_s: float
) -> str:
    """A lavfi source graph at 30 fps lasting `duration_s`: the kind rotates from scene to scene
    (neighbours never share one), colours and motion follow from the seed and the scene."""
    kinds = list(GENERATED_KINDS.values())
    first = random.Random(f"{seed}").randrange(len(kinds))
    kind = kinds[(first + scene_index) % len(kinds)]
    rng = random.Random(f"{seed}:{scene_index}")
    source = kind(rng, width_px, height_px, duration_s)
    return f"{source},trim=duration={duration_s:.3f}"


class GeneratedFootage:
    """The offline default: a moving background for every scene, never nothing."""

    name = "generated"

    def __init__(self, *, seed: str, width_px: int, height_px: int) -> None:
        self._seed = seed
        self._width_px = width_px
        self._height_px = height_px

    def find(self, scene: Scene, *, work_dir: Path) -> Clip:
        lavfi = generated_source(
            self._seed, scene.index, width_px=self._width_px, height_px=self._height_px,
            duration_s=scene.duration_s,
        )  # fmt: skip
        return Clip(
            source=self.name, term=scene.term, duration_s=scene.duration_s,
            width_px=self._width_px, height_px=self._height_px, lavfi=lavfi,
        )  # fmt: skip
