"""The render stage: one encode — clips cropped to cover, subtitles, voice and ducked music."""

from __future__ import annotations

import contextlib
import math
import os
import random
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.domain import Aspect, Quality, frame_size_px
from app.media import UPRIGHT_FILTERS, Clip, forced_input
from worker.errors import PipelineError
from worker.pipeline.ffmpeg import ffmpeg_error, filter_value, start_ffmpeg
from worker.pipeline.mix import (
    AUDIO_RATE_HZ,
    Loudness,
    audio_chains,
    audio_inputs,
    measure_loudness,
    normaliser,
)
from worker.pipeline.qa import frame_probe

STAGE = "render"
VIDEO_NAME = "video.mp4"
FPS = 30
# x264 preset and CRF per quality. veryfast is the measured sweet spot for standard (on the render
# benchmark's inputs, medium took 1.8× as long for little); high spends that time on purpose
# (smaller file at a lower CRF); draft is for previews and tests, where only speed counts.
ENCODING: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("veryfast", 23),
    "high": ("medium", 20),
}
MIN_SEGMENT_S = 1.0  # a clip's remainder shorter than this starts the clip over instead
KEN_BURNS_ZOOM = 0.12  # how far a move over a still zooms in (or out) across its segment
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
    clips: list[Clip]  # one per scene
    scene_lengths_s: list[float]
    voice: Path | None
    subtitles: Path | None  # an .ass file
    music: Path | None
    music_volume: float
    fonts_dir: Path | None
    encoder_threads: int = 2


@dataclass(frozen=True)
class Segment:
    """A stretch of one clip in the cut: `length_s` seconds from `start_s`."""

    clip: Clip
    start_s: float
    length_s: float
    scene: int = 0  # which scene it plays in


def plan_render(
    *,
    aspect: Aspect,
    quality: Quality,
    duration_s: float,
    clips: list[Clip],
    scene_lengths_s: list[float],
    voice: Path | None,
    subtitles: Path | None,
    music: Path | None,
    music_volume: float,
    fonts_dir: Path | None,
    threads: int = 2,
) -> RenderPlan:
    """What to render: `clips[i]` under scene i, `scene_lengths_s[i]` long. `threads` is the
    request's hint for the encoder, held to this machine's cores (more threads buffer more
    frames: memory, for no speed past the cores)."""
    if not clips or any(clip.duration_s <= 0 for clip in clips):
        raise PipelineError("There is no footage to render.", retryable=False, stage=STAGE)
    if len(clips) != len(scene_lengths_s):
        raise PipelineError("Each scene needs one clip.", retryable=False, stage=STAGE)
    if duration_s <= 0:
        raise PipelineError("The video would be empty.", retryable=False, stage=STAGE)
    if abs(sum(scene_lengths_s) - duration_s) > 1 / FPS:
        raise PipelineError(
            f"The scenes last {sum(scene_lengths_s):.3f} s, the video {duration_s:.3f} s.",
            retryable=False, stage=STAGE,
        )  # fmt: skip
    width_px, height_px = frame_size_px(aspect, quality)
    preset, crf = ENCODING[quality]
    return RenderPlan(
        width_px, height_px, duration_s, preset, crf, list(clips), list(scene_lengths_s),
        voice, subtitles, music, music_volume, fonts_dir,
        max(1, min(threads, os.cpu_count() or 1)),
    )  # fmt: skip


def scene_segments(clips: list[Clip], lengths_s: list[float], *, slack_s: float) -> list[Segment]:
    """Each scene's clip from its start for the scene's length, starting over when it runs out
    (a remainder shorter than MIN_SEGMENT_S is left unplayed); the last scene runs `slack_s`
    longer."""
    segments: list[Segment] = []
    for number, (clip, scene_s) in enumerate(zip(clips, lengths_s, strict=True)):
        left_s = scene_s + (slack_s if number == len(clips) - 1 else 0.0)
        start_s = 0.0
        if clip.still:  # one move over the picture, however long the scene
            segments.append(Segment(clip, 0.0, left_s, number))
            continue
        while left_s > 1e-6:
            if clip.duration_s - start_s < min(MIN_SEGMENT_S, left_s):
                start_s = 0.0
            length_s = min(_whole_frames_s(clip.duration_s - start_s), left_s)
            segments.append(Segment(clip, start_s, length_s, number))
            start_s += length_s
            left_s -= length_s
    return segments


def ffmpeg_command(
    plan: RenderPlan, *, ffmpeg_exe: str, output_name: str, loudness: Loudness | None = None
) -> list[str]:
    """The encoder: raw frames on stdin (from `segment_command`s, one after another), subtitles
    burned in, the audio mixed and normalised (`loudness` makes that a linear second pass); black
    and still stretches noted in FRAME_LOG on the way."""
    graph = ";".join(
        [
            # The frames also go, scaled down, past the checks' black and still detectors,
            # which note what they find in a file: the check after the render reads it rather
            # than decode the whole video again (worker/pipeline/qa.py).
            f"[0:v]setsar=1,split[frames][probe];[probe]{frame_probe(max(plan.scene_lengths_s))}",
            f"[frames]null{_subtitle_filter(plan)}[v]",
            *audio_chains(plan, first_input=1, normaliser=normaliser(plan, loudness)),
        ]
    )
    # A short input queue (each queued raw frame is 3 MB at 1080p) and the plan's x264 threads,
    # two by default (x264's own default, 1.5 per core, buffers more frames for no gain on 2
    # cores): 626 → 589 MB peak.
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "warning", "-y",
        "-thread_queue_size", "4", "-protocol_whitelist", "pipe", "-f", "rawvideo",
        "-pix_fmt", "yuv420p", "-video_size", f"{plan.width_px}x{plan.height_px}",
        "-framerate", str(FPS), "-i", "pipe:0",
        *audio_inputs(plan),
        "-filter_complex", graph,
        "-map", "[v]", "-map", "[a]",
        "-threads", str(plan.encoder_threads),
        "-c:v", "libx264", "-preset", plan.preset, "-crf", str(plan.crf),
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(FPS * 2),
        "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE_HZ), "-ac", "2",
        "-t", f"{plan.duration_s:.3f}",
        "-movflags", "+faststart",
        "-progress", "pipe:1", "-nostats",
        "-f", "mp4", output_name,
    ]  # fmt: skip


def segment_command(segment: Segment, plan: RenderPlan, *, ffmpeg_exe: str) -> list[str]:
    """One segment decoded, cropped to cover the frame (never stretched, never letterboxed) and
    scaled, as exactly `length_s` × 30 raw frames on stdout (the last frame repeats if the clip
    runs short, so the cut never drifts from the voice). A still is moved over instead."""
    width, height = plan.width_px, plan.height_px
    frames = max(1, round(segment.length_s * FPS))
    # Crop before scaling: a landscape source scales only its 9:16 middle, not the whole frame.
    crop = f"crop=w='min(iw,ih*{width}/{height})':h='min(ih,iw*{height}/{width})'"
    if segment.clip.still:
        upright = UPRIGHT_FILTERS.get(segment.clip.orientation)
        moved = f"{crop},{ken_burns(segment, width, height, frames)},format=yuv420p"
        frames_filter = f"{upright},{moved}" if upright else moved
    else:
        frames_filter = (
            f"fps={FPS},{crop},scale={width}:{height},setsar=1,format=yuv420p,"
            f"tpad=stop_mode=clone:stop_duration={segment.length_s:.3f}"
        )
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error",
        *segment_input(segment),
        "-vf", frames_filter, "-frames:v", str(frames), "-an",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1",
    ]  # fmt: skip


def ken_burns(segment: Segment, width: int, height: int, frames: int) -> str:
    """A slow move over a still cropped to the frame's shape: a zoom in or out by KEN_BURNS_ZOOM
    toward a corner, an edge or the centre, chosen by the picture and the segment. The still is
    first scaled to twice the frame, so the move glides rather than steps a pixel at a time."""
    assert segment.clip.path is not None
    rng = random.Random(f"{segment.clip.path.name}:{segment.scene}:{segment.start_s:.3f}")
    step = f"{KEN_BURNS_ZOOM}*on/{max(1, frames - 1)}"
    zoom = f"1+{step}" if rng.random() < 0.5 else f"{1 + KEN_BURNS_ZOOM}-{step}"
    towards_x, towards_y = rng.choice((0.0, 0.5, 1.0)), rng.choice((0.0, 0.5, 1.0))
    return (
        f"scale={2 * width}:{2 * height},setsar=1,"
        f"zoompan=z='{zoom}':x='(iw-iw/zoom)*{towards_x}':y='(ih-ih/zoom)*{towards_y}'"
        f":d={frames}:s={width}x{height}:fps={FPS}"
    )


def _whole_frames_s(length_s: float) -> float:
    """`length_s` cut down to whole frames (at least one), so the cut does not drift from the
    voice as a scene's pieces add up; a still's endless length stays so."""
    if math.isinf(length_s):
        return length_s
    return max(1, math.floor(length_s * FPS + 1e-6)) / FPS


def plan_segments(plan: RenderPlan) -> list[Segment]:
    return scene_segments(plan.clips, plan.scene_lengths_s, slack_s=COVER_SLACK_S)


def segment_input(segment: Segment) -> list[str]:
    # Input-side -ss/-t: ffmpeg seeks to the keyframe before and decodes only this stretch.
    # (A generated source cannot seek: ffmpeg warns and generates up to the start instead.)
    clip = segment.clip
    timing = ["-t", f"{segment.length_s:.3f}"]
    if segment.start_s > 0:
        timing = ["-ss", f"{segment.start_s:.3f}", *timing]
    # One decoding thread: the encoder is the bottleneck, and each decoder thread holds frames.
    if clip.lavfi is not None:
        return ["-threads", "1", *timing, "-f", "lavfi", "-i", clip.lavfi]
    assert clip.path is not None and clip.container is not None
    if clip.still:  # one picture: the move makes the segment's frames
        # Turned upright by its EXIF orientation here (segment_command), for every format alike:
        # ffmpeg itself would turn a JPEG but not a PNG or a WebP.
        return ["-threads", "1", "-noautorotate", *forced_input(clip.container, clip.path)]
    # Opened as the container its first bytes showed, never as what ffmpeg would guess.
    return ["-threads", "1", *timing, *forced_input(clip.container, clip.path)]


def render_video(
    plan: RenderPlan, work_dir: Path, *, ffmpeg_exe: str, on_progress: Callable[[float], None]
) -> Path:
    """Render to `video.mp4.part`, then move it to `video.mp4` in one step (atomic).

    One encoder reads raw frames from a pipe that the segments' decoders write to one after
    another. A single ffmpeg with every segment as an input keeps all their decoders alive for the
    whole render (≈ 60 MB each at 1080p): 774 MB for the standard 30 s short, against the 600 MB
    budget; one decoder at a time keeps the render under it at the same speed."""
    final = work_dir / VIDEO_NAME
    partial = work_dir / "video.mp4.part"
    loudness = None
    if plan.voice is not None or plan.music is not None:
        loudness = measure_loudness(plan, work_dir, ffmpeg_exe=ffmpeg_exe)
    command = ffmpeg_command(
        plan, ffmpeg_exe=ffmpeg_exe, output_name=partial.name, loudness=loudness
    )
    log_path = work_dir / "ffmpeg.log"
    with log_path.open("wb") as log:
        encoder = start_ffmpeg(
            command, work_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
        with encoder:
            assert encoder.stdin is not None and encoder.stdout is not None
            feeder = _Feeder(plan, work_dir, ffmpeg_exe=ffmpeg_exe, sink=encoder.stdin, log=log)
            feeder.start()
            frames = 0
            for raw in encoder.stdout:
                line = raw.decode("ascii", "replace")
                if line.startswith("frame=") and line[6:].strip().isdigit():
                    frames = int(line[6:])
                fraction = progress_fraction(line, plan.duration_s)
                if fraction is not None:
                    on_progress(fraction)
        feeder.join()
    log_text = log_path.read_text("utf-8", "replace")
    if encoder.returncode != 0:
        raise ffmpeg_error(encoder.returncode, log_text, work_dir=work_dir)
    # The encoder stops at the narration's end, so the last decoder, still writing the slack past
    # it, fails on a closed pipe: that is only an error when frames are missing.
    if feeder.returncode not in (0, None) and frames < plan.duration_s * FPS - 2:
        raise ffmpeg_error(feeder.returncode, log_text, work_dir=work_dir)
    os.replace(partial, final)
    return final


class _Feeder(threading.Thread):
    """Runs the segment decoders in order, each writing straight into the encoder's stdin (no
    copy through Python), then closes it so the encoder sees the end of the video."""

    def __init__(
        self, plan: RenderPlan, work_dir: Path, *, ffmpeg_exe: str, sink: IO[bytes], log: IO[bytes]
    ) -> None:
        super().__init__(name="render-feeder", daemon=True)
        self.commands = [
            segment_command(segment, plan, ffmpeg_exe=ffmpeg_exe) for segment in plan_segments(plan)
        ]
        self.work_dir, self.sink, self.log = work_dir, sink, log
        self.returncode: int | None = None

    def run(self) -> None:
        try:
            for command in self.commands:
                decoder = start_ffmpeg(command, self.work_dir, stdout=self.sink, stderr=self.log)
                self.returncode = decoder.wait()
                if self.returncode != 0:
                    return  # the encoder then ends early too, and its error is reported first
        except PipelineError:
            self.returncode = 127
        finally:
            with contextlib.suppress(OSError):
                self.sink.close()


def progress_fraction(line: str, duration_s: float) -> float | None:
    """The fraction done from one `-progress` line (`out_time_us=…`), else None."""
    key, _, value = line.strip().partition("=")
    if key != "out_time_us" or not value.lstrip("-").isdigit() or duration_s <= 0:
        return None
    return min(max(int(value) / 1_000_000 / duration_s, 0.0), 1.0)


def _subtitle_filter(plan: RenderPlan) -> str:
    if plan.subtitles is None:
        return ""
    subtitle = f",ass=filename={filter_value(str(plan.subtitles))}"
    if plan.fonts_dir is not None:
        subtitle += f":fontsdir={filter_value(str(plan.fonts_dir))}"
    return subtitle
