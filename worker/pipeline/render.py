"""The render stage: one ffmpeg pass — generated moving background, voice, burned-in subtitles."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.domain import Aspect, Quality
from worker.pipeline.base import PipelineError

STAGE = "render"
FPS = 30
FULL_SIZE_PX: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "16:9": (1920, 1080),
    "1:1": (1080, 1080),
}
# x264 preset and CRF per quality: veryfast is the measured sweet spot (MEDIA-NOTES.md).
ENCODING: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("veryfast", 23),
    "high": ("medium", 20),
}
BACKGROUND_DOWNSCALE = 4  # gradients are smooth: draw them small, scale up (much cheaper)
GRADIENT_TYPES = ("linear", "radial", "circular", "spiral")
LOG_TAIL_CHARS = 1500
AUDIO_RATE_HZ = 48_000


@dataclass(frozen=True)
class RenderPlan:
    width_px: int
    height_px: int
    duration_s: float
    preset: str
    crf: int
    background: str  # a lavfi source description


def frame_size_px(aspect: Aspect, quality: Quality) -> tuple[int, int]:
    """Output size: full HD on the long side; draft renders at half size."""
    width_px, height_px = FULL_SIZE_PX[aspect]
    if quality == "draft":
        return width_px // 2, height_px // 2
    return width_px, height_px


def plan_render(*, subject: str, aspect: Aspect, quality: Quality, duration_s: float) -> RenderPlan:
    width_px, height_px = frame_size_px(aspect, quality)
    preset, crf = ENCODING[quality]
    background = background_source(
        subject, width_px=width_px, height_px=height_px, duration_s=duration_s
    )
    return RenderPlan(width_px, height_px, duration_s, preset, crf, background)


def background_source(subject: str, *, width_px: int, height_px: int, duration_s: float) -> str:
    """A slowly moving gradient whose colours, shape and speed follow from the subject's hash."""
    digest = hashlib.sha256(subject.strip().lower().encode("utf-8")).digest()
    colors = [f"0x{digest[i]:02x}{digest[i + 1]:02x}{digest[i + 2]:02x}" for i in (0, 3, 6)]
    gradient_type = GRADIENT_TYPES[digest[9] % len(GRADIENT_TYPES)]
    speed = 0.005 + digest[10] / 255 * 0.02
    seed = int.from_bytes(digest[11:15], "big")
    small_w = max(2, width_px // BACKGROUND_DOWNSCALE)
    small_h = max(2, height_px // BACKGROUND_DOWNSCALE)
    return (
        f"gradients=s={small_w}x{small_h}:r={FPS}:d={duration_s:.3f}:n=3:"
        f"c0={colors[0]}:c1={colors[1]}:c2={colors[2]}:type={gradient_type}:"
        f"speed={speed:.4f}:seed={seed}"
    )


def ffmpeg_command(
    plan: RenderPlan, *, ffmpeg_exe: str, voice_name: str | None, ass_name: str, output_name: str
) -> list[str]:
    """The argument list, with file names relative to the work folder (ffmpeg runs there, so no
    path needs filtergraph escaping)."""
    duration = f"{plan.duration_s:.3f}"
    if voice_name is None:
        audio_input = ["-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE_HZ}:cl=stereo:d={duration}"]
    else:
        audio_input = ["-i", voice_name]
    video_filter = (
        f"[0:v]scale={plan.width_px}:{plan.height_px}:flags=bicubic,setsar=1,"
        f"ass={ass_name},format=yuv420p[v]"
    )
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "warning", "-y",
        "-f", "lavfi", "-i", plan.background,
        *audio_input,
        "-filter_complex", video_filter,
        "-map", "[v]", "-map", "1:a",
        "-c:v", "libx264", "-preset", plan.preset, "-crf", str(plan.crf),
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(FPS * 2),
        "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE_HZ), "-ac", "2",
        "-t", duration,
        "-movflags", "+faststart",
        "-progress", "pipe:1", "-nostats",
        "-f", "mp4", output_name,
    ]  # fmt: skip


def render_video(
    plan: RenderPlan,
    work_dir: Path,
    *,
    ffmpeg_exe: str,
    voice_name: str | None,
    ass_name: str,
    on_progress: Callable[[float], None],
) -> Path:
    """Render to `video.mp4.part`, then move it to `video.mp4` in one step (atomic)."""
    final = work_dir / "video.mp4"
    partial = work_dir / "video.mp4.part"
    command = ffmpeg_command(
        plan, ffmpeg_exe=ffmpeg_exe, voice_name=voice_name, ass_name=ass_name,
        output_name=partial.name,
    )  # fmt: skip
    log_path = work_dir / "ffmpeg.log"
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                command, cwd=work_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
            )
        except OSError as exc:
            raise PipelineError(
                f"ffmpeg could not start ({ffmpeg_exe}): {exc}", retryable=False, stage=STAGE
            ) from exc
        with process:
            assert process.stdout is not None
            for raw in process.stdout:
                fraction = progress_fraction(raw.decode("ascii", "replace"), plan.duration_s)
                if fraction is not None:
                    on_progress(fraction)
    if process.returncode != 0:
        raise _ffmpeg_error(process.returncode, log_path)
    os.replace(partial, final)
    return final


def progress_fraction(line: str, duration_s: float) -> float | None:
    """The fraction done from one `-progress` line (`out_time_us=…`), else None."""
    key, _, value = line.strip().partition("=")
    if key != "out_time_us" or not value.lstrip("-").isdigit() or duration_s <= 0:
        return None
    return min(max(int(value) / 1_000_000 / duration_s, 0.0), 1.0)


def _ffmpeg_error(returncode: int, log_path: Path) -> PipelineError:
    tail = log_path.read_text("utf-8", "replace").strip()[-LOG_TAIL_CHARS:]
    if returncode < 0:
        # Killed by a signal (out of memory, an operator): nothing about the input is wrong.
        return PipelineError(
            f"ffmpeg was killed by signal {-returncode}", retryable=True, stage=STAGE
        )
    # ffmpeg's errors on the same input repeat: a deterministic failure is permanent.
    return PipelineError(
        f"ffmpeg failed (exit code {returncode}): {tail or 'no output'}",
        retryable=False,
        stage=STAGE,
    )
