"""The render stage: one ffmpeg pass — clips cropped to cover, subtitles, voice and ducked music."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.domain import Aspect, Quality
from worker.pipeline.base import Clip, PipelineError

STAGE = "render"
FPS = 30
FULL_SIZE_PX: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "16:9": (1920, 1080),
    "1:1": (1080, 1080),
}
# x264 preset and CRF per quality. veryfast is the measured sweet spot for standard (medium took
# 1.8× as long for little, MEDIA-NOTES.md); high spends that time on purpose (smaller file at a
# lower CRF); draft is for previews and tests, where only speed counts.
ENCODING: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("veryfast", 23),
    "high": ("medium", 20),
}
LOG_TAIL_CHARS = 1500
AUDIO_RATE_HZ = 48_000
AUDIO_FORMAT = f"aformat=sample_rates={AUDIO_RATE_HZ}:channel_layouts=stereo"
# TP -2 rather than -1.5: AAC encoding overshoots the limiter by ~0.6 dB (measured -0.9 dBTP
# after AAC with TP=-1.5), and the promise is ≤ -1 dBTP in the file.
LOUDNORM = "loudnorm=I=-14:TP=-2:LRA=11"
SILENCE_LUFS = -60.0  # quieter than this is silence: normalising would only raise the noise
DUCKING = "sidechaincompress=threshold=0.02:ratio=8:attack=20:release=300"
MUSIC_FADE_OUT_S = 2.0
MIN_SEGMENT_S = 1.0  # a clip's remainder shorter than this starts the clip over instead
# Clips cover a little more than the narration: each segment is rounded to whole frames, and `-t`
# must cut inside the last clip rather than after it.
COVER_SLACK_S = 0.5


@dataclass(frozen=True)
class RenderPlan:
    width_px: int
    height_px: int
    duration_s: float
    preset: str
    crf: int
    clips: list[Clip]
    clip_duration_s: float
    voice: Path | None
    subtitles: Path | None  # an .ass file
    music: Path | None
    music_volume: float
    fonts_dir: Path | None


@dataclass(frozen=True)
class Segment:
    """A stretch of one clip in the cut: `length_s` seconds from `start_s`."""

    clip: Clip
    start_s: float
    length_s: float


@dataclass(frozen=True)
class Loudness:
    """The first (audio-only) pass's measurement of the mix: loudnorm's `input_*` values."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float
    offset_lu: float


def frame_size_px(aspect: Aspect, quality: Quality) -> tuple[int, int]:
    """Output size: full HD on the long side; draft renders at half size."""
    width_px, height_px = FULL_SIZE_PX[aspect]
    if quality == "draft":
        return width_px // 2, height_px // 2
    return width_px, height_px


def plan_render(
    *,
    aspect: Aspect,
    quality: Quality,
    duration_s: float,
    clips: list[Clip],
    clip_duration_s: float,
    voice: Path | None,
    subtitles: Path | None,
    music: Path | None,
    music_volume: float,
    fonts_dir: Path | None,
) -> RenderPlan:
    if not any(clip.duration_s > 0 for clip in clips):
        raise PipelineError("There is no footage to render.", retryable=False, stage=STAGE)
    if duration_s <= 0 or clip_duration_s <= 0:
        raise PipelineError("The video would be empty.", retryable=False, stage=STAGE)
    width_px, height_px = frame_size_px(aspect, quality)
    preset, crf = ENCODING[quality]
    return RenderPlan(
        width_px, height_px, duration_s, preset, crf, list(clips), clip_duration_s,
        voice, subtitles, music, music_volume, fonts_dir,
    )  # fmt: skip


def clip_segments(clips: list[Clip], *, clip_duration_s: float, cover_s: float) -> list[Segment]:
    """Clips in turn, `clip_duration_s` each (or their whole length when shorter), until `cover_s`
    is covered. A clip met again continues where it stopped, starting over when it runs out."""
    usable = [clip for clip in clips if clip.duration_s > 0]
    cursors_s = [0.0] * len(usable)
    segments: list[Segment] = []
    covered_s = 0.0
    while covered_s < cover_s:
        index = len(segments) % len(usable)
        clip = usable[index]
        start_s = cursors_s[index]
        if clip.duration_s - start_s < MIN_SEGMENT_S:
            start_s = 0.0
        length_s = min(clip_duration_s, clip.duration_s - start_s, cover_s - covered_s)
        segments.append(Segment(clip, start_s, length_s))
        cursors_s[index] = start_s + length_s
        covered_s += length_s
    return segments


def ffmpeg_command(
    plan: RenderPlan, *, ffmpeg_exe: str, output_name: str, loudness: Loudness | None = None
) -> list[str]:
    """The render's argument list. `loudness` (from `loudness_command`) makes the normalisation a
    second pass; without it loudnorm runs single-pass (within ~1 LU on speech)."""
    segments = clip_segments(
        plan.clips, clip_duration_s=plan.clip_duration_s, cover_s=plan.duration_s + COVER_SLACK_S
    )
    graph = ";".join(
        [
            *video_chains(plan, len(segments)),
            *audio_chains(plan, first_input=len(segments), normaliser=_normaliser(plan, loudness)),
        ]
    )
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "warning", "-y",
        *[arg for segment in segments for arg in segment_input(segment)],
        *audio_inputs(plan),
        "-filter_complex", graph,
        "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", plan.preset, "-crf", str(plan.crf),
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(FPS * 2),
        "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE_HZ), "-ac", "2",
        "-t", f"{plan.duration_s:.3f}",
        "-movflags", "+faststart",
        "-progress", "pipe:1", "-nostats",
        "-f", "mp4", output_name,
    ]  # fmt: skip


def loudness_command(plan: RenderPlan, *, ffmpeg_exe: str) -> list[str]:
    """The first pass: the same audio mix alone (no video, so fast), measured by loudnorm."""
    graph = ";".join(audio_chains(plan, first_input=0, normaliser=f",{LOUDNORM}:print_format=json"))
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *audio_inputs(plan),
        "-filter_complex", graph, "-map", "[a]",
        "-t", f"{plan.duration_s:.3f}", "-f", "null", "-",
    ]  # fmt: skip


def segment_input(segment: Segment) -> list[str]:
    # Input-side -ss/-t: ffmpeg seeks to the keyframe before and decodes only this stretch.
    # (A generated source cannot seek: ffmpeg warns and generates up to the start instead.)
    clip = segment.clip
    # One decoding thread per segment: ffmpeg opens every input at start and a frame-threaded
    # H.264 decoder holds a frame per thread; segments play one after another, so the threads
    # only cost memory (measured: 850 → 710 MB peak for the standard short).
    timing = ["-t", f"{segment.length_s:.3f}"]
    if segment.start_s > 0:
        timing = ["-ss", f"{segment.start_s:.3f}", *timing]
    if clip.lavfi is not None:
        return ["-threads", "1", *timing, "-f", "lavfi", "-i", clip.lavfi]
    assert clip.path is not None
    return ["-threads", "1", *timing, "-i", _input_name(clip.path)]


def audio_inputs(plan: RenderPlan) -> list[str]:
    if plan.voice is None:
        silence = f"anullsrc=r={AUDIO_RATE_HZ}:cl=stereo:d={plan.duration_s:.3f}"
        inputs = ["-f", "lavfi", "-i", silence]
    else:
        inputs = ["-i", _input_name(plan.voice)]
    if plan.music is not None:
        # Loop the song forever; the mix ends with the (padded) voice.
        inputs += ["-stream_loop", "-1", "-i", _input_name(plan.music)]
    return inputs


def video_chains(plan: RenderPlan, segment_count: int) -> list[str]:
    """Each segment cropped to the frame's aspect then scaled (cover: never stretched, never
    letterboxed), then all concatenated with the subtitles burned in."""
    width, height = plan.width_px, plan.height_px
    # Crop before scaling: a landscape source scales only its 9:16 middle, not the whole frame.
    cover = (
        f"crop=w='min(iw,ih*{width}/{height})':h='min(ih,iw*{height}/{width})',"
        f"scale={width}:{height},setsar=1,format=yuv420p"
    )
    chains = [f"[{index}:v]fps={FPS},{cover}[s{index}]" for index in range(segment_count)]
    labels = "".join(f"[s{index}]" for index in range(segment_count))
    chains.append(f"{labels}concat=n={segment_count}:v=1:a=0{_subtitle_filter(plan)}[v]")
    return chains


def audio_chains(plan: RenderPlan, *, first_input: int, normaliser: str) -> list[str]:
    """Voice (or silence) padded to the narration, music under it ducked by the voice, then
    `normaliser` on the mix; the result is labelled [a]."""
    voice = f"[{first_input}:a]{AUDIO_FORMAT},apad=whole_dur={plan.duration_s:.3f}"
    if plan.music is None:
        return [f"{voice}{normaliser}[a]"]
    fade_start_s = max(plan.duration_s - MUSIC_FADE_OUT_S, 0.0)
    return [
        f"{voice},asplit=2[voice][key]",
        f"[{first_input + 1}:a]{AUDIO_FORMAT},volume={plan.music_volume:.3f},"
        f"afade=t=out:st={fade_start_s:.3f}:d={MUSIC_FADE_OUT_S}[music]",
        f"[music][key]{DUCKING}[ducked]",
        # normalize=0: amix would otherwise halve the voice; loudnorm sets the level afterwards.
        f"[voice][ducked]amix=inputs=2:duration=first:normalize=0{normaliser}[a]",
    ]


def filter_value(text: str) -> str:
    """Escape a filter option's value inside a filtergraph: once for the option parser, once more
    for the graph parser (ffmpeg-filters(1), "Notes on filtergraph escaping")."""
    option_level = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def render_video(
    plan: RenderPlan, work_dir: Path, *, ffmpeg_exe: str, on_progress: Callable[[float], None]
) -> Path:
    """Render to `video.mp4.part`, then move it to `video.mp4` in one step (atomic)."""
    final = work_dir / "video.mp4"
    partial = work_dir / "video.mp4.part"
    loudness = None
    if plan.voice is not None or plan.music is not None:
        loudness = measure_loudness(plan, work_dir, ffmpeg_exe=ffmpeg_exe)
    command = ffmpeg_command(
        plan, ffmpeg_exe=ffmpeg_exe, output_name=partial.name, loudness=loudness
    )
    log_path = work_dir / "ffmpeg.log"
    with log_path.open("wb") as log:
        process = _start(command, work_dir, stdout=subprocess.PIPE, stderr=log)
        with process:
            assert process.stdout is not None
            for raw in process.stdout:
                fraction = progress_fraction(raw.decode("ascii", "replace"), plan.duration_s)
                if fraction is not None:
                    on_progress(fraction)
    if process.returncode != 0:
        raise _ffmpeg_error(process.returncode, log_path.read_text("utf-8", "replace"))
    os.replace(partial, final)
    return final


def measure_loudness(plan: RenderPlan, work_dir: Path, *, ffmpeg_exe: str) -> Loudness | None:
    """The mix's loudness from the first pass, or None when loudnorm printed no measurement."""
    process = _start(
        loudness_command(plan, ffmpeg_exe=ffmpeg_exe), work_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = process.communicate()
    log = stderr.decode("utf-8", "replace")
    if process.returncode != 0:
        raise _ffmpeg_error(process.returncode, log)
    return parse_loudness(log)


def parse_loudness(log: str) -> Loudness | None:
    """loudnorm's JSON block (the last `{…}` in ffmpeg's log) as a Loudness."""
    start, end = log.rfind("{"), log.rfind("}")
    try:
        data = json.loads(log[start : end + 1]) if 0 <= start < end else {}
        return Loudness(
            integrated_lufs=float(data["input_i"]),
            true_peak_dbtp=float(data["input_tp"]),
            range_lu=float(data["input_lra"]),
            threshold_lufs=float(data["input_thresh"]),
            offset_lu=float(data["target_offset"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def progress_fraction(line: str, duration_s: float) -> float | None:
    """The fraction done from one `-progress` line (`out_time_us=…`), else None."""
    key, _, value = line.strip().partition("=")
    if key != "out_time_us" or not value.lstrip("-").isdigit() or duration_s <= 0:
        return None
    return min(max(int(value) / 1_000_000 / duration_s, 0.0), 1.0)


def _normaliser(plan: RenderPlan, loudness: Loudness | None) -> str:
    if plan.voice is None and plan.music is None:
        return ""  # digital silence: nothing to normalise
    resample = f",aresample={AUDIO_RATE_HZ}"  # loudnorm upsamples to 192 kHz internally
    if loudness is None:
        return f",{LOUDNORM}{resample}"
    if not math.isfinite(loudness.integrated_lufs) or loudness.integrated_lufs < SILENCE_LUFS:
        return ""
    # linear=true applies one gain when the true-peak target allows it; otherwise loudnorm falls
    # back to its dynamic mode, still starting from the measured values (closer than one pass).
    measured = (
        f":measured_I={loudness.integrated_lufs}:measured_TP={loudness.true_peak_dbtp}"
        f":measured_LRA={loudness.range_lu}:measured_thresh={loudness.threshold_lufs}"
        f":offset={loudness.offset_lu}:linear=true"
    )
    return f",{LOUDNORM}{measured}{resample}"


def _subtitle_filter(plan: RenderPlan) -> str:
    if plan.subtitles is None:
        return ""
    subtitle = f",ass=filename={filter_value(str(plan.subtitles))}"
    if plan.fonts_dir is not None:
        subtitle += f":fontsdir={filter_value(str(plan.fonts_dir))}"
    return subtitle


def _input_name(path: Path) -> str:
    # ffmpeg would read a relative name starting with "-" as an option.
    return f"./{path}" if str(path).startswith("-") else str(path)


def _start(
    command: list[str], work_dir: Path, *, stdout: int, stderr: int | IO[bytes]
) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            command, cwd=work_dir, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    except OSError as exc:
        raise PipelineError(
            f"ffmpeg could not start ({command[0]}): {exc}", retryable=False, stage=STAGE
        ) from exc


def _ffmpeg_error(returncode: int, log: str) -> PipelineError:
    if returncode < 0:
        # Killed by a signal (out of memory, an operator): nothing about the input is wrong.
        return PipelineError(
            f"ffmpeg was killed by signal {-returncode}", retryable=True, stage=STAGE
        )
    # ffmpeg's errors on the same input repeat: a deterministic failure is permanent.
    tail = log.strip()[-LOG_TAIL_CHARS:]
    return PipelineError(
        f"ffmpeg failed (exit code {returncode}): {tail or 'no output'}",
        retryable=False,
        stage=STAGE,
    )
