"""Media files: a scene's clip of footage, the container a file is in (from its first bytes), how
ffmpeg opens one, a picture's EXIF orientation, the facts of a file (SHA-256, and what ffprobe,
else ffmpeg's banner, says of it), and a file name as words."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from array import array
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

FFPROBE_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 30.0  # ffmpeg's banner, when there is no ffprobe
# Footage containers, as ffmpeg's demuxers are named: MP4 and MOV are read by `mov`, WebM and MKV
# by `matroska`. Footage in anything else is skipped.
VIDEO_CONTAINERS = ("mov", "matroska")
VIDEO_CONTAINER_NAMES = "MP4/MOV or WebM/Matroska"
# Still images in the local footage folder, which the render moves over (a Ken Burns move): the
# demuxers that read exactly one picture of that format, never a pattern of file names.
STILL_CONTAINERS = ("jpeg_pipe", "png_pipe", "webp_pipe")
STILL_CONTAINER_NAMES = "JPEG, PNG or WebP"
FOOTAGE_CONTAINERS = VIDEO_CONTAINERS + STILL_CONTAINERS
# The types of an ISO media file's first box (MP4, QuickTime): `ftyp` in any recent file; older
# QuickTime files may open with the movie, the media data or padding.
ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
# A picture's EXIF orientation (how a camera held sideways stored it) and the filter that shows
# it upright. ffmpeg applies it to a JPEG (unless told not to) but not to a PNG or a WebP, and
# ffprobe gives the stored size: the render turns every still itself.
EXIF_ORIENTATION_TAG = 0x0112
UPRIGHT_FILTERS = {
    2: "hflip", 3: "hflip,vflip", 4: "vflip", 5: "transpose=0", 6: "transpose=1",
    7: "transpose=3", 8: "transpose=2",
}  # fmt: skip
SIDEWAYS = frozenset({5, 6, 7, 8})  # stored with width and height swapped


@dataclass(frozen=True)
class Clip:
    """One scene's footage: a downloaded or local file, or an ffmpeg source description for a
    generated background (rendered in the same ffmpeg pass as everything else)."""

    source: str  # "Pexels", "Pixabay", "local", "generated"
    term: str
    duration_s: float
    width_px: int
    height_px: int
    path: Path | None = None
    lavfi: str | None = None
    container: str | None = None  # a file's, from `sniff_container`: ffmpeg opens it as that
    orientation: int = 1  # a still's EXIF orientation (UPRIGHT_FILTERS); its size is upright

    def __post_init__(self) -> None:
        if (self.path is None) == (self.lavfi is None):
            raise ValueError("a clip is either a file or a generated source")
        if (self.container in FOOTAGE_CONTAINERS) != (self.path is not None):
            raise ValueError(
                "a file clip names its container (a video's or a still's), a generated one none"
            )

    @property
    def still(self) -> bool:
        """A picture, not a video: the render moves over it for as long as its scene lasts."""
        return self.container in STILL_CONTAINERS


def still_orientation(path: Path) -> int:
    """A picture's EXIF orientation, 1 to 8; 1 (as stored) when it has none or is unreadable."""
    try:
        with Image.open(path) as image:
            value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def sniff_container(path: Path) -> str | None:
    """ffmpeg's demuxer for the file, from its first bytes: `mov` (MP4, MOV), `matroska` (MKV,
    WebM), `wav`, or a still's (`jpeg_pipe`, `png_pipe`, `webp_pipe`); None for anything else,
    or when it cannot be read."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    if head[4:8] in ISO_FIRST_BOXES:
        return "mov"
    if head[:4] == EBML_MAGIC:
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg_pipe"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png_pipe"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp_pipe"
    return None


def forced_input(container: str, path: Path) -> list[str]:
    """ffmpeg's (or ffprobe's) arguments to open `path` as `container`, through the file protocol
    only. Left to guess, ffmpeg reads a file by its content: an HLS playlist or a concat list
    would open the local files or URLs it names, and those would end up in the output."""
    # `file:` also keeps a name starting with "-" from reading as an option, and one with a ":"
    # from reading as a protocol.
    return ["-protocol_whitelist", "file", "-f", container, "-i", f"file:{path}"]


def find_ffprobe(ffmpeg_exe: str) -> str | None:
    """The ffprobe beside `ffmpeg_exe`, else on PATH (the imageio-ffmpeg wheel ships none)."""
    sibling = Path(ffmpeg_exe).with_name("ffprobe")
    if sibling.is_file():
        return str(sibling)
    return shutil.which("ffprobe")


def probe_media(
    path: Path, *, ffprobe_exe: str | None, container: str | None = None
) -> dict[str, Any] | None:
    """Duration, size, codecs and frame rate, or None when ffprobe is missing or fails, or the
    file is in no container `sniff_container` knows. `container`: the file's, when the caller
    has sniffed it already."""
    container = container or sniff_container(path)
    if ffprobe_exe is None or container is None:
        return None
    command = [
        ffprobe_exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
        *forced_input(container, path),
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, capture_output=True, timeout=FFPROBE_TIMEOUT_S, check=True
        )
        data = json.loads(completed.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return None
    return media_facts(data)


def media_facts(data: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    duration = data.get("format", {}).get("duration")
    if duration is not None:
        facts["durationS"] = round(float(duration), 3)
    for stream in data.get("streams", []):
        if stream.get("codec_type") == "video" and "videoCodec" not in facts:
            facts.update(
                videoCodec=stream.get("codec_name"),
                widthPx=stream.get("width"),
                heightPx=stream.get("height"),
                pixelFormat=stream.get("pix_fmt"),
                fps=_rate(stream.get("avg_frame_rate")),
            )
        elif stream.get("codec_type") == "audio" and "audioCodec" not in facts:
            rate_hz = stream.get("sample_rate")
            facts.update(
                audioCodec=stream.get("codec_name"),
                sampleRateHz=int(rate_hz) if str(rate_hz).isdigit() else None,
            )
    return facts


def _rate(text: str | None) -> float | None:
    numerator, _, denominator = (text or "").partition("/")
    try:
        return round(int(numerator) / int(denominator or "1"), 3)
    except (ValueError, ZeroDivisionError):
        return None


def le_bytes(samples: array[int]) -> bytes:
    """16-bit samples in native order as little-endian bytes, as WAV files hold them."""
    if sys.byteorder == "little":
        return samples.tobytes()
    swapped = array("h", samples)
    swapped.byteswap()
    return swapped.tobytes()


def file_description(name: str, sidecar: str = "") -> str:
    """A file name as words ("b-roll_coffee_pour.mov" → "b roll coffee pour"), and its sidecar."""
    stem = Path(name).stem
    named = " ".join(re.findall(r"[^\W_]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)))
    return f"{named}. {sidecar}" if sidecar else named


@dataclass(frozen=True)
class MediaFacts:
    duration_s: float  # math.inf for a still: it lasts as long as its scene
    width_px: int
    height_px: int
    container: str  # ffmpeg's demuxer for the file: one of VIDEO_CONTAINERS or STILL_CONTAINERS
    orientation: int = 1  # a still's EXIF orientation; the size above is the upright one


def probe_with_ffmpeg(
    path: Path, *, ffmpeg_exe: str, container: str | None = None
) -> MediaFacts | None:
    """Duration and size from ffmpeg's banner (a still's duration is math.inf); None for a file
    that is neither a video nor a still. `container`: the file's, when the caller has sniffed it
    already."""
    container = container or sniff_container(path)
    if container is None or container not in FOOTAGE_CONTAINERS:
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
    if size is not None and container in STILL_CONTAINERS:
        return MediaFacts(math.inf, int(size.group(1)), int(size.group(2)), container)
    if duration is None or size is None:
        return None
    hours, minutes, seconds = duration.groups()
    duration_s = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return MediaFacts(duration_s, int(size.group(1)), int(size.group(2)), container)


def read_facts(
    path: Path, container: str, *, ffmpeg_exe: str, ffprobe_exe: str | None
) -> MediaFacts | None:
    """A footage file's facts: ffprobe's, else ffmpeg's banner (the imageio-ffmpeg wheel ships no
    ffprobe); a still's size upright by its EXIF orientation (a phone's portrait photo is stored
    sideways). None when it cannot be read as a video or a still."""
    facts = probe_media(path, ffprobe_exe=ffprobe_exe, container=container)
    if facts is None:
        found = probe_with_ffmpeg(path, ffmpeg_exe=ffmpeg_exe, container=container)
    else:
        duration_s, width_px, height_px = (
            facts.get("durationS"), facts.get("widthPx"), facts.get("heightPx")
        )  # fmt: skip
        if container in STILL_CONTAINERS:
            duration_s = math.inf
        if not duration_s or not width_px or not height_px:
            return None
        found = MediaFacts(float(duration_s), int(width_px), int(height_px), container)
    if found is None or container not in STILL_CONTAINERS:
        return found
    orientation = still_orientation(path)
    width_px, height_px = found.width_px, found.height_px
    if orientation in SIDEWAYS:
        width_px, height_px = height_px, width_px
    return replace(found, width_px=width_px, height_px=height_px, orientation=orientation)
