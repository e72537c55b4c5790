"""The three renders compared, each run in its own process: `python -m bench.render.variants NAME
CACHE_DIR OUT_DIR` prints {"wall_s": …} for the work alone (imports excluded)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

from app.media import Clip
from bench.render.inputs import CLIP_DURATION_S, VOICE_DURATION_S, ensure_inputs, wrap_cue
from worker.pipeline.render import (
    COVER_SLACK_S,
    Segment,
    plan_render,
    render_video,
    scene_segments,
)  # fmt: skip

WIDTH_PX, HEIGHT_PX = 1080, 1920
SEGMENT_S = 5.0  # the original's default max clip duration
MUSIC_VOLUME = 0.1
PRESET, CRF = "veryfast", 23  # the standard quality's encoder settings, for all three sides


def scenes(clips: list[Path]) -> tuple[list[Clip], list[float]]:
    """SEGMENT_S scenes over the voice, the clips in turn: the same cut for all three sides."""
    count = math.ceil(VOICE_DURATION_S / SEGMENT_S)
    sources = [
        Clip("local", "", CLIP_DURATION_S, 1920, 1080, path=clips[i % len(clips)].resolve(),
             container="mov")
        for i in range(count)
    ]  # fmt: skip
    lengths_s = [min(SEGMENT_S, VOICE_DURATION_S - i * SEGMENT_S) for i in range(count)]
    return sources, lengths_s


def segments(clips: list[Path]) -> list[Segment]:
    return scene_segments(*scenes(clips), slack_s=COVER_SLACK_S)


def run_ours(cache_dir: Path, out_dir: Path) -> None:
    inputs = ensure_inputs(cache_dir)
    plan = plan_render(
        aspect="9:16", quality="standard", duration_s=VOICE_DURATION_S,
        clips=scenes(inputs.clips)[0], scene_lengths_s=scenes(inputs.clips)[1],
        voice=inputs.voice.resolve(),
        subtitles=inputs.ass.resolve(), music=inputs.music.resolve(),
        music_volume=MUSIC_VOLUME, fonts_dir=inputs.font.parent,
    )  # fmt: skip
    render_video(plan, out_dir, ffmpeg_exe="ffmpeg", on_progress=lambda _: None)


def run_handwritten(cache_dir: Path, out_dir: Path) -> None:
    """(a) One ffmpeg command written by hand: the same cut, crop, subtitles, mix and encoder."""
    inputs = ensure_inputs(cache_dir)
    args: list[str] = []
    chains: list[str] = []
    for index, segment in enumerate(segments(inputs.clips)):
        assert segment.clip.path is not None
        args += ["-threads", "1", "-ss", str(segment.start_s), "-t", str(segment.length_s)]
        args += ["-i", str(segment.clip.path.resolve())]
        chains.append(f"[{index}:v]fps=30,crop=ih*9/16:ih,scale=1080:1920,setsar=1[s{index}]")
    count = len(chains)
    labels = "".join(f"[s{i}]" for i in range(count))
    graph = ";".join([
        *chains,
        f"{labels}concat=n={count}:v=1:a=0,ass={inputs.ass.resolve()}"
        f":fontsdir={inputs.font.parent}[v]",
        f"[{count}:a]aformat=sample_rates=48000:channel_layouts=stereo,asplit[voice][key]",
        f"[{count + 1}:a]aformat=sample_rates=48000:channel_layouts=stereo,volume=0.1,"
        "afade=t=out:st=28:d=2[music]",
        "[music][key]sidechaincompress=threshold=0.02:ratio=8[ducked]",
        "[voice][ducked]amix=inputs=2:duration=first:normalize=0,"
        "loudnorm=I=-14:TP=-2:LRA=11,aresample=48000[a]",
    ])  # fmt: skip
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args,
        "-i", str(inputs.voice.resolve()), "-stream_loop", "-1", "-i", str(inputs.music.resolve()),
        "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
        "-threads", "2", "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF),
        "-pix_fmt", "yuv420p",
        "-r", "30", "-g", "60",
        "-c:a", "aac", "-b:a", "128k", "-t", str(VOICE_DURATION_S), "-movflags", "+faststart",
        str(out_dir / "video.mp4"),
    ]  # fmt: skip
    subprocess.run(command, check=True)


def run_moviepy(cache_dir: Path, out_dir: Path) -> None:
    """(b) The plain MoviePy 2 way, as the original MoneyPrinter renders."""
    import moviepy as mp

    inputs = ensure_inputs(cache_dir)
    sources = {path: mp.VideoFileClip(str(path)) for path in inputs.clips}
    parts = []
    for segment in segments(inputs.clips):
        assert segment.clip.path is not None
        part = sources[segment.clip.path].subclipped(
            segment.start_s, segment.start_s + segment.length_s
        )
        part = part.cropped(x_center=960, y_center=540, width=round(1080 * 9 / 16), height=1080)
        parts.append(part.resized((WIDTH_PX, HEIGHT_PX)))
    video = mp.concatenate_videoclips(parts).with_duration(VOICE_DURATION_S)
    texts = [
        mp.TextClip(font=str(inputs.font), text=cue["text"].replace("\\N", "\n"), font_size=72,
                 color="white", stroke_color="black", stroke_width=5, method="label",
                 margin=(15, 15))
        .with_start(cue["start_s"]).with_duration(cue["end_s"] - cue["start_s"])
        .with_position(("center", HEIGHT_PX - 500))
        for cue in _wrapped_cues(inputs.cues_json)
    ]  # fmt: skip
    voice = mp.AudioFileClip(str(inputs.voice))
    music = mp.AudioFileClip(str(inputs.music)).with_effects(
        [mp.afx.MultiplyVolume(MUSIC_VOLUME), mp.afx.AudioLoop(duration=VOICE_DURATION_S)]
    )
    final = mp.CompositeVideoClip([video, *texts]).with_audio(mp.CompositeAudioClip([voice, music]))
    final.write_videofile(
        str(out_dir / "video.mp4"), fps=30, codec="libx264", audio_codec="aac", preset="medium",
        threads=2, logger=None, temp_audiofile=str(out_dir / "moviepy-audio.m4a"),
    )  # fmt: skip
    for clip in [final, voice, music, *sources.values()]:
        clip.close()


def _wrapped_cues(cues_json: Path) -> list[dict[str, object]]:
    cues = json.loads(cues_json.read_text(encoding="utf-8"))
    return [{**cue, "text": wrap_cue(cue["text"])} for cue in cues]


VARIANTS = {"ours": run_ours, "handwritten": run_handwritten, "moviepy": run_moviepy}

if __name__ == "__main__":
    name, cache, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    VARIANTS[name](cache, out)
    print(json.dumps({"wall_s": time.perf_counter() - started}))
