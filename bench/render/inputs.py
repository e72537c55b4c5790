"""The benchmark's standard inputs, generated once into a cache folder with ffmpeg and espeak-ng."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLIP_DURATION_S = 8.0
VOICE_DURATION_S = 30.0
CUE_COUNT = 10
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
# 1080p sources with real detail and motion (x264 can't cheat on flat frames).
CLIP_SOURCES = (
    "testsrc2=s=1920x1080:r=30",
    "mandelbrot=s=1920x1080:r=30:end_scale=0.01",
    "life=s=1920x1080:r=30:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00,"
    "scale=1920:1080,format=yuv420p",
    "cellauto=s=1920x1080:r=30:rule=110:random_fill_ratio=0.5:scroll=1,format=yuv420p",
)
SENTENCES = (
    "Deep in the ocean, far from the light, strange creatures make their homes.",
    "Octopuses have three hearts and blue blood.",
    "They can change colour in a fraction of a second.",
    "Some fish make their own light to find food in the dark.",
    "Whales sing songs that travel across whole oceans.",
    "Coral reefs are built by tiny animals over thousands of years.",
    "Sea turtles return to the beach where they were born.",
    "The deepest point of the ocean is eleven kilometres down.",
    "More people have walked on the moon than have been there.",
    "There is still so much to discover.",
)


@dataclass(frozen=True)
class Inputs:
    clips: list[Path]
    voice: Path
    music: Path
    ass: Path
    cues_json: Path  # [{"start_s", "end_s", "text"}] for the MoviePy side
    font: Path


def ensure_inputs(cache_dir: Path, *, ffmpeg_exe: str = "ffmpeg") -> Inputs:
    """Generate whatever is missing in `cache_dir` and return the paths."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, source in enumerate(CLIP_SOURCES):
        path = cache_dir / f"clip{index}.mp4"
        if not path.exists():
            _ffmpeg(ffmpeg_exe, "-f", "lavfi", "-t", str(CLIP_DURATION_S), "-i", source,
                    "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p",
                    path)  # fmt: skip
        clips.append(path)
    voice = cache_dir / "voice.wav"
    if not voice.exists():
        _make_voice(voice, cache_dir, ffmpeg_exe=ffmpeg_exe)
    music = cache_dir / "music.mp3"
    if not music.exists():
        _ffmpeg(ffmpeg_exe, "-f", "lavfi", "-i",
                "aevalsrc=0.3*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*2*t))"
                "+0.2*sin(2*PI*277*t)+0.2*sin(2*PI*330*t):s=44100:d=40",
                "-ac", "2", "-c:a", "libmp3lame", "-b:a", "160k", music)  # fmt: skip
    ass, cues_json = cache_dir / "subtitles.ass", cache_dir / "cues.json"
    _write_cues(ass, cues_json)
    return Inputs(clips, voice, music, ass, cues_json, FONT_FILE)


def _make_voice(voice: Path, cache_dir: Path, *, ffmpeg_exe: str) -> None:
    raw = cache_dir / "voice-raw.wav"
    espeak = shutil.which("espeak-ng")
    if espeak:
        subprocess.run([espeak, "-w", str(raw), " ".join(SENTENCES)], check=True)
        source = ["-i", str(raw)]
    else:  # a tone stands in for speech
        source = ["-f", "lavfi", "-i", "sine=f=300:sample_rate=22050"]
    # Exactly 30 s, the standard short's length.
    _ffmpeg(ffmpeg_exe, *source, "-af", f"apad,atrim=duration={VOICE_DURATION_S}", voice)


def _write_cues(ass: Path, cues_json: Path) -> None:
    step_s = VOICE_DURATION_S / CUE_COUNT
    cues = [
        {"start_s": i * step_s, "end_s": (i + 1) * step_s, "text": text}
        for i, text in enumerate(SENTENCES)
    ]
    cues_json.write_text(json.dumps(cues, indent=1), encoding="utf-8")
    events = "\n".join(
        f"Dialogue: 0,{_ass_time(c['start_s'])},{_ass_time(c['end_s'])},Default,,0,0,0,,"
        f"{wrap_cue(str(c['text']))}"
        for c in cues
    )
    ass.write_text(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: 1080\nPlayResY: 1920\nWrapStyle: 0\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
        "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
        "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
        "Style: Default,DejaVu Sans,84,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,-1,0,0,0,"
        "100,100,0,0,1,5,0,2,60,60,300,1\n\n[Events]\nFormat: Layer, Start, End, Style, Name, "
        f"MarginL, MarginR, MarginV, Effect, Text\n{events}\n",
        encoding="utf-8",
    )


def wrap_cue(text: str, *, max_chars: int = 20) -> str:
    """Lines of at most `max_chars` (both renderers get the same line breaks)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= max_chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\\N".join(lines)


def _ass_time(seconds: float) -> str:
    centis = round(seconds * 100)
    return (
        f"{centis // 360000}:{centis // 6000 % 60:02d}:{centis // 100 % 60:02d}.{centis % 100:02d}"
    )


def _ffmpeg(ffmpeg_exe: str, *args: object) -> None:
    command = [ffmpeg_exe, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(command, check=True)
