"""The check after the render: the service inspects the video it made before anyone sees it.

Black stretches (`blackdetect`) and frozen ones (`freezedetect`) are found on the frames, scaled
down (the checks need no detail): by the render itself, which passes its frames through
`frame_probe` on the way to the encoder and notes what it finds in FRAME_LOG, or, for a video
made elsewhere, by decoding it again (a 60 s 1080×1920 short: 5.6 s of decoding saved). The
loudness (`ebur128`, with true peak) is measured on the file's own sound; one pass over the
voice finds its silences (`silencedetect`); ffprobe gives codecs,
frame size and duration; the file's boxes say whether the index comes first (faststart); the
subtitle cues are compared with the voiced stretches. Each check passes or fails with the figure
it measured and the limit it was held to. A failed check is a warning on the job, not a failure:
the video exists and may still be what the user wants; an automatic publish waits for a person.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.media import find_ffprobe, probe_media
from worker.pipeline.ffmpeg import filter_value

STAGE = "qa"
DURATION_TOLERANCE_S = 0.2
LOUDNESS_TARGET_LUFS = -14.0  # mix.LOUDNORM's target
LOUDNESS_TOLERANCE_LU = 2.0
TRUE_PEAK_LIMIT_DBTP = -1.0
BLACK_MIN_S = 0.5  # a cut to black shorter than this reads as a transition
BLACK_PIXEL_THRESHOLD = 0.10
FREEZE_NOISE_DB = -60
VOICE_SILENCE_DB = -40
VOICE_SILENCE_MAX_S = 2.0  # longer, and the narration has a hole a listener notices
CUE_COVERAGE_MIN = 0.9  # of the voiced time, under some subtitle cue
ANALYSIS_HEIGHT_PX = 320
FRAME_LOG = "frames.txt"  # what `frame_probe` found, in the render's work folder
TIMEOUT_S = 600.0
EXPECTED_CODECS = {"videoCodec": "h264", "audioCodec": "aac", "pixelFormat": "yuv420p"}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    measured: str
    expected: str

    def describe(self) -> str:
        return f"{self.name}: {self.measured} (expected {self.expected})"


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def as_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [asdict(check) for check in self.checks]}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n", encoding="utf-8")
        return path


@dataclass(frozen=True)
class Expected:
    """What the video should be: its frame size, the voice it carries, its subtitles, and the
    longest a shot may hold still (a scene's length)."""

    width_px: int
    height_px: int
    voice: Path
    voice_duration_s: float
    subtitles_srt: Path | None
    scene_s: float


def frame_probe(scene_s: float, *, log: str = FRAME_LOG) -> str:
    """A filter chain that ends a branch of frames: it notes black and still stretches in the
    file `log` (ffmpeg's `metadata` printer) and discards the frames."""
    return (
        f"scale=-2:{ANALYSIS_HEIGHT_PX},"
        f"blackdetect=d={BLACK_MIN_S}:pix_th={BLACK_PIXEL_THRESHOLD},"
        f"freezedetect=n={FREEZE_NOISE_DB}dB:d={scene_s:.3f},"
        f"metadata=mode=print:file={log},nullsink"
    )


def inspect_video(
    video: Path, expected: Expected, *, ffmpeg_exe: str, frame_log: Path | None = None
) -> Report:
    """Check `video`. `frame_log`: what the render's `frame_probe` noted; without one the video
    is decoded again to find out."""
    facts = probe_media(video, ffprobe_exe=find_ffprobe(ffmpeg_exe)) or {}
    measured = _measure_video(
        video, ffmpeg_exe=ffmpeg_exe, scene_s=expected.scene_s, frame_log=frame_log,
        duration_s=float(facts.get("durationS") or 0.0),
    )  # fmt: skip
    silences = _silences(expected.voice, ffmpeg_exe=ffmpeg_exe)
    checks = [
        _duration(facts, expected),
        _loudness(measured),
        _true_peak(measured),
        _black(measured),
        _frozen(measured, expected.scene_s),
        _voice_silence(silences, expected.voice_duration_s),
        _cues(expected, silences),
        _faststart(video),
        _codecs(facts),
        _frame_size(facts, expected),
    ]
    return Report(checks)


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    black: list[tuple[float, float]]  # (start s, duration s)
    frozen: list[tuple[float, float]]
    integrated_lufs: float | None
    true_peak_dbtp: float | None


def _run(command: list[str]) -> str:
    completed = subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S, check=False
    )
    return completed.stderr


def _measure_video(
    video: Path, *, ffmpeg_exe: str, scene_s: float, frame_log: Path | None, duration_s: float
) -> _Measured:
    decode = frame_log is None or not frame_log.is_file()
    with tempfile.TemporaryDirectory(prefix="qa-") as folder:
        log_path = Path(folder) / FRAME_LOG if decode else frame_log
        assert log_path is not None
        command = [ffmpeg_exe, "-hide_banner", "-nostats", "-i", str(video)]
        if decode:
            probe = frame_probe(scene_s, log=filter_value(str(log_path)))
            command += ["-filter_complex", f"[0:v]{probe}"]
        log = _run([*command, "-map", "0:a", "-af", "ebur128=peak=true", "-f", "null", "-"])
        black, frozen = _stretches(log_path.read_text("utf-8", "replace"), duration_s)
    summary = log[log.rfind("Summary:") :] if "Summary:" in log else ""
    integrated = re.search(r"I:\s*(-?[\d.]+|-inf)\s*LUFS", summary)
    peak = re.search(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS", summary)
    return _Measured(
        black, frozen, _number(integrated.group(1)) if integrated else None,
        _number(peak.group(1)) if peak else None,
    )  # fmt: skip


def _stretches(
    printed: str, duration_s: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Black and still stretches as (start s, duration s) from the `metadata` printer's lines;
    one still open at the end lasts until the end."""
    values = re.findall(
        r"^lavfi\.(black_start|black_end|freezedetect\.freeze_start|"
        r"freezedetect\.freeze_duration)=(-?[\d.]+)$",
        printed,
        re.MULTILINE,
    )
    black: list[tuple[float, float]] = []
    frozen: list[tuple[float, float]] = []
    black_start = freeze_start = None
    for key, text in values:
        value = float(text)
        if key == "black_start":
            black_start = value
        elif key == "black_end" and black_start is not None:
            black.append((black_start, value - black_start))
            black_start = None
        elif key.endswith("freeze_start"):
            freeze_start = value
        elif key.endswith("freeze_duration") and freeze_start is not None:
            frozen.append((freeze_start, value))
            freeze_start = None
    if black_start is not None and duration_s - black_start >= BLACK_MIN_S:
        black.append((black_start, duration_s - black_start))
    if freeze_start is not None:
        frozen.append((freeze_start, max(0.0, duration_s - freeze_start)))
    return black, frozen


def _duration_of(log: str) -> float:
    match = re.search(r"Duration:\s*(\d+):(\d+):([\d.]+)", log)
    if match is None:
        return 0.0
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _number(text: str) -> float:
    return float("-inf") if text == "-inf" else float(text)


def _silences(voice: Path, *, ffmpeg_exe: str) -> list[tuple[float, float]]:
    """The voice's silences as (start s, end s), the last one ending at the voice's end."""
    log = _run(
        [ffmpeg_exe, "-hide_banner", "-nostats", "-i", str(voice), "-af",
         f"silencedetect=n={VOICE_SILENCE_DB}dB:d=0.3", "-f", "null", "-"]
    )  # fmt: skip
    starts = [float(value) for value in re.findall(r"silence_start:\s*(-?[\d.]+)", log)]
    ends = [float(value) for value in re.findall(r"silence_end:\s*([\d.]+)", log)]
    if len(starts) > len(ends):
        ends.append(_duration_of(log))
    return [(max(0.0, start), end) for start, end in zip(starts, ends, strict=False)]


# -- the checks ------------------------------------------------------------------------------


def _duration(facts: dict[str, Any], expected: Expected) -> Check:
    duration = facts.get("durationS")
    passed = duration is not None and (
        abs(duration - expected.voice_duration_s) <= DURATION_TOLERANCE_S
    )
    measured = f"{duration:.2f} s" if duration is not None else "unreadable"
    wanted = f"the voice's {expected.voice_duration_s:.2f} s ± {DURATION_TOLERANCE_S} s"
    return Check("duration", passed, measured, wanted)


def _loudness(measured: _Measured) -> Check:
    value = measured.integrated_lufs
    passed = value is not None and abs(value - LOUDNESS_TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU
    shown = f"{value:.1f} LUFS" if value is not None else "unmeasured"
    return Check(
        "loudness", passed, shown, f"{LOUDNESS_TARGET_LUFS:g} ± {LOUDNESS_TOLERANCE_LU:g} LUFS"
    )


def _true_peak(measured: _Measured) -> Check:
    value = measured.true_peak_dbtp
    passed = value is not None and value <= TRUE_PEAK_LIMIT_DBTP
    shown = f"{value:.1f} dBTP" if value is not None else "unmeasured"
    return Check("true peak", passed, shown, f"at most {TRUE_PEAK_LIMIT_DBTP:g} dBTP")


def _black(measured: _Measured) -> Check:
    shown = ", ".join(f"{duration:.1f} s at {start:.1f} s" for start, duration in measured.black)
    return Check("black frames", not measured.black, shown or "none", f"none of {BLACK_MIN_S} s")


def _frozen(measured: _Measured, scene_s: float) -> Check:
    shown = ", ".join(f"{duration:.1f} s at {start:.1f} s" for start, duration in measured.frozen)
    return Check(
        "frozen frames", not measured.frozen, shown or "none", f"none longer than {scene_s:.1f} s"
    )


def _voice_silence(silences: list[tuple[float, float]], total_s: float) -> Check:
    # The voice's own lead-in and tail are not holes in the narration.
    inner = [(start, end) for start, end in silences if start > 0.05 and end < total_s - 0.05]
    longest = max(inner, key=lambda span: span[1] - span[0], default=None)
    longest_s = longest[1] - longest[0] if longest else 0.0
    shown = f"{longest_s:.1f} s at {longest[0]:.1f} s" if longest else "none"
    return Check(
        "silence in the voice", longest_s <= VOICE_SILENCE_MAX_S, f"longest {shown}",
        f"at most {VOICE_SILENCE_MAX_S:g} s",
    )  # fmt: skip


def _cues(expected: Expected, silences: list[tuple[float, float]]) -> Check:
    wanted = f"at least {CUE_COVERAGE_MIN:.0%} of the voiced time under a cue"
    if expected.subtitles_srt is None or not expected.subtitles_srt.is_file():
        return Check("subtitles cover the voice", False, "no subtitles", wanted)
    cues = _srt_cues(expected.subtitles_srt.read_text("utf-8", "replace"))
    voiced = _complement(silences, expected.voice_duration_s)
    voiced_s = sum(end - start for start, end in voiced)
    covered_s = sum(_overlap(span, cue) for span in voiced for cue in cues)
    coverage = covered_s / voiced_s if voiced_s > 0 else 0.0
    return Check(
        "subtitles cover the voice", coverage >= CUE_COVERAGE_MIN, f"{coverage:.0%}", wanted
    )


def _faststart(video: Path) -> Check:
    order = _top_level_boxes(video)
    passed = "moov" in order and "mdat" in order and order.index("moov") < order.index("mdat")
    shown = "index first" if passed else "index after the media" if "moov" in order else "no index"
    return Check("faststart", passed, shown, "index first (plays while downloading)")


def _codecs(facts: dict[str, Any]) -> Check:
    found = {name: facts.get(name) for name in EXPECTED_CODECS}
    shown = ", ".join(str(value) for value in found.values())
    return Check("codecs", found == EXPECTED_CODECS, shown, ", ".join(EXPECTED_CODECS.values()))


def _frame_size(facts: dict[str, Any], expected: Expected) -> Check:
    size = (facts.get("widthPx"), facts.get("heightPx"))
    wanted = (expected.width_px, expected.height_px)
    return Check("frame size", size == wanted, f"{size[0]}×{size[1]}", f"{wanted[0]}×{wanted[1]}")


# -- helpers ---------------------------------------------------------------------------------


def _srt_cues(text: str) -> list[tuple[float, float]]:
    stamp = r"(\d+):(\d+):(\d+)[,.](\d+)"
    cues = []
    for match in re.finditer(f"{stamp}\\s*-->\\s*{stamp}", text):
        parts = [int(value) for value in match.groups()]
        start = parts[0] * 3600 + parts[1] * 60 + parts[2] + parts[3] / 1000
        end = parts[4] * 3600 + parts[5] * 60 + parts[6] + parts[7] / 1000
        cues.append((start, end))
    return cues


def _complement(silences: list[tuple[float, float]], total_s: float) -> list[tuple[float, float]]:
    spans, position = [], 0.0
    for start, end in sorted(silences):
        if start > position:
            spans.append((position, start))
        position = max(position, end)
    if position < total_s:
        spans.append((position, total_s))
    return spans


def _overlap(first: tuple[float, float], second: tuple[float, float]) -> float:
    return max(0.0, min(first[1], second[1]) - max(first[0], second[0]))


def _top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (`ftyp`, `moov`, `mdat`, …)."""
    boxes: list[str] = []
    with path.open("rb") as file:
        size_bytes = path.stat().st_size
        offset = 0
        while offset + 8 <= size_bytes and len(boxes) < 64:
            file.seek(offset)
            length, kind = struct.unpack(">I4s", file.read(8))
            if length == 1:
                (length,) = struct.unpack(">Q", file.read(8))
            elif length == 0:
                length = size_bytes - offset
            if length < 8:
                break
            boxes.append(kind.decode("latin-1"))
            offset += length
    return boxes
