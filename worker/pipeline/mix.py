"""The audio of a render: voice (or silence), music ducked under it, and the loudness passes."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.media import forced_input
from worker.pipeline.ffmpeg import ffmpeg_error, start_ffmpeg

AUDIO_RATE_HZ = 48_000
AUDIO_FORMAT = f"aformat=sample_rates={AUDIO_RATE_HZ}:channel_layouts=stereo"
# TP -2 rather than -1.5: AAC encoding overshoots the limiter by ~0.6 dB (measured -0.9 dBTP
# after AAC with TP=-1.5), and the promise is ≤ -1 dBTP in the file.
TARGET_LUFS = -14.0
TARGET_TP_DBTP = -2.0
LOUDNORM = f"loudnorm=I={TARGET_LUFS:g}:TP={TARGET_TP_DBTP:g}:LRA=11"
# loudnorm works on 3 s windows: on a shorter mix its true peak reads 0 dBTP and its gain falls
# far short (a 2.5 s voice at -22 LUFS came out at -43); such a mix gets one measured gain and a
# limiter at the true-peak target instead.
LOUDNORM_MIN_S = 3.0
OVERSAMPLED_HZ = 4 * AUDIO_RATE_HZ
SHORT_MIX_HEADROOM_DB = 1.0
SILENCE_LUFS = -60.0  # quieter than this is silence: normalising would only raise the noise
DUCKING = "sidechaincompress=threshold=0.02:ratio=8:attack=20:release=300"
MUSIC_FADE_OUT_S = 2.0


class AudioPlan(Protocol):
    """What the mix needs of a render plan."""

    @property
    def duration_s(self) -> float: ...
    @property
    def voice(self) -> Path | None: ...
    @property
    def music(self) -> Path | None: ...
    @property
    def music_volume(self) -> float: ...


@dataclass(frozen=True)
class Loudness:
    """The first (audio-only) pass's measurement of the mix: loudnorm's `input_*` values."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float
    offset_lu: float


def audio_inputs(plan: AudioPlan) -> list[str]:
    """The voice (a WAV of ours) or silence, then the song: each opened as its own format, so an
    uploaded song is read as MP3 whatever its bytes, never as a playlist naming other files."""
    if plan.voice is None:
        silence = f"anullsrc=r={AUDIO_RATE_HZ}:cl=stereo:d={plan.duration_s:.3f}"
        inputs = ["-f", "lavfi", "-i", silence]
    else:
        inputs = forced_input("wav", plan.voice)
    if plan.music is not None:
        # Loop the song forever; the mix ends with the (padded) voice.
        inputs += ["-stream_loop", "-1", *forced_input("mp3", plan.music)]
    return inputs


def audio_chains(plan: AudioPlan, *, first_input: int, normaliser: str) -> list[str]:
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


def normaliser(plan: AudioPlan, loudness: Loudness | None) -> str:
    if plan.voice is None and plan.music is None:
        return ""  # digital silence: nothing to normalise
    resample = f",aresample={AUDIO_RATE_HZ}"  # loudnorm upsamples to 192 kHz internally
    if loudness is None:
        return f",{LOUDNORM}{resample}"
    if not math.isfinite(loudness.integrated_lufs) or loudness.integrated_lufs < SILENCE_LUFS:
        return ""
    if plan.duration_s < LOUDNORM_MIN_S:
        # alimiter holds sample peaks, not true ones: it limits at four times the rate (where
        # samples come close to the true peak), a dB under the target, so AAC's overshoot stays
        # under -1 dBTP too (14 Piper voices of a 2.5 s sentence: -2.7 to -2.9 dBTP after AAC,
        # against up to -1.5 at 48 kHz and -2 dBFS; one such voice was measured at -0.4).
        gain_db = TARGET_LUFS - loudness.integrated_lufs
        limit = 10 ** ((TARGET_TP_DBTP - SHORT_MIX_HEADROOM_DB) / 20)
        return (
            f",aresample={OVERSAMPLED_HZ},volume={gain_db:.2f}dB,"
            f"alimiter=limit={limit:.4f}:level=false{resample}"
        )
    # linear=true applies one gain when the true-peak target allows it; otherwise loudnorm falls
    # back to its dynamic mode, still starting from the measured values (closer than one pass).
    measured = (
        f":measured_I={loudness.integrated_lufs}:measured_TP={loudness.true_peak_dbtp}"
        f":measured_LRA={loudness.range_lu}:measured_thresh={loudness.threshold_lufs}"
        f":offset={loudness.offset_lu}:linear=true"
    )
    return f",{LOUDNORM}{measured}{resample}"


def loudness_command(plan: AudioPlan, *, ffmpeg_exe: str) -> list[str]:
    """The first pass: the same audio mix alone (no video, so fast), measured by loudnorm."""
    graph = ";".join(audio_chains(plan, first_input=0, normaliser=f",{LOUDNORM}:print_format=json"))
    return [
        ffmpeg_exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *audio_inputs(plan),
        "-filter_complex", graph, "-map", "[a]",
        "-t", f"{plan.duration_s:.3f}", "-f", "null", "-",
    ]  # fmt: skip


def measure_loudness(plan: AudioPlan, work_dir: Path, *, ffmpeg_exe: str) -> Loudness | None:
    """The mix's loudness from the first pass, or None when loudnorm printed no measurement."""
    process = start_ffmpeg(
        loudness_command(plan, ffmpeg_exe=ffmpeg_exe), work_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = process.communicate()
    log = stderr.decode("utf-8", "replace")
    if process.returncode != 0:
        raise ffmpeg_error(process.returncode, log, work_dir=work_dir)
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
