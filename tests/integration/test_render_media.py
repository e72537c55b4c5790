"""Real draft renders with ffmpeg, checked the way a viewer would: ffprobe, loudness, frames, and
what a crafted song in the songs folder gets into the video."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.domain import Aspect, frame_size_px
from app.media import Clip
from app.settings import find_ffmpeg
from app.songs import FolderSongs
from worker.errors import PipelineError
from worker.pipeline.music import choose_song
from worker.pipeline.render import plan_render, render_video

FFMPEG = find_ffmpeg()
FONTS_DIR = Path("/usr/share/fonts/truetype/dejavu")
ASS = """[Script Info]
ScriptType: v4.00+
PlayResX: 540
PlayResY: 960

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,48,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,-1,0,0,0,100,100,0,0,\
1,3,0,2,30,30,80,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.50,0:00:03.00,Default,,0,0,0,,Three hearts
Dialogue: 0,0:00:03.00,0:00:06.00,Default,,0,0,0,,and blue blood
"""

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg/ffprobe")


def ffmpeg(*args: object) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    landscape = folder / "landscape.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=5", "-pix_fmt", "yuv420p", landscape)
    voice = folder / "voice.wav"
    espeak = shutil.which("espeak-ng")
    if espeak:
        text = "Octopuses have three hearts and blue blood. They change colour in an instant."
        subprocess.run([espeak, "-w", str(voice), text], check=True)
    else:
        ffmpeg("-f", "lavfi", "-i", "sine=f=300:d=6:sample_rate=22050", voice)
    song = folder / "song.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=220:d=3", "-ac", "2", "-c:a", "libmp3lame", song)
    subtitles = folder / "subtitles.ass"
    subtitles.write_text(ASS, encoding="utf-8")
    return {"landscape": landscape, "voice": voice, "song": song, "subtitles": subtitles}


def probe(path: Path) -> dict:
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
        capture_output=True, check=True,
    )  # fmt: skip
    return json.loads(completed.stdout)


def duration_s(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def render(
    work: Path, media: dict[str, Path], *, aspect: Aspect = "9:16", **changes: object
) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    voice = changes.pop("voice", media["voice"])
    arguments: dict[str, object] = {
        "aspect": aspect, "quality": "draft",
        "duration_s": duration_s(voice) if isinstance(voice, Path) else 3.0,
        "clips": [
            Clip("local", "land", 5.0, 640, 360, path=media["landscape"], container="mov"),
            Clip("generated", "sky", 4.0, 64, 64, lavfi="gradients=s=64x64:r=30:d=4:speed=0.05"),
        ],
        "voice": voice, "subtitles": media["subtitles"],
        "music": media["song"], "music_volume": 0.1, "fonts_dir": FONTS_DIR,
    }  # fmt: skip
    arguments.update(changes)
    total_s = float(arguments["duration_s"])  # type: ignore[arg-type]
    scenes = len(arguments["clips"])  # type: ignore[arg-type]
    arguments.setdefault("scene_lengths_s", [2.0, total_s - 2.0] if scenes == 2 else [total_s])
    plan = plan_render(**arguments)  # type: ignore[arg-type]
    fractions: list[float] = []
    video = render_video(plan, work, ffmpeg_exe=FFMPEG, on_progress=fractions.append)
    assert fractions and fractions[-1] > 0.9
    return video


def loudness(path: Path) -> tuple[float, float]:
    log = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", path,
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = log[log.rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated and peak
    return float(integrated.group(1)), float(peak.group(1))


@pytest.mark.parametrize("aspect", ["9:16", "16:9", "1:1"])
def test_a_draft_render_has_the_promised_format_size_duration_and_loudness(
    tmp_path: Path, media: dict[str, Path], aspect: Aspect
) -> None:
    video = render(tmp_path / "work", media, aspect=aspect)

    facts = probe(video)
    picture = next(s for s in facts["streams"] if s["codec_type"] == "video")
    sound = next(s for s in facts["streams"] if s["codec_type"] == "audio")
    assert video == tmp_path / "work" / "video.mp4" and not video.with_suffix(".mp4.part").exists()
    assert (picture["codec_name"], picture["pix_fmt"]) == ("h264", "yuv420p")
    assert (picture["width"], picture["height"]) == frame_size_px(aspect, "draft")
    assert picture["avg_frame_rate"] == "30/1" and picture["sample_aspect_ratio"] in ("1:1", None)
    assert sound["codec_name"] == "aac"
    assert abs(float(facts["format"]["duration"]) - duration_s(media["voice"])) <= 0.2
    data = video.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart
    integrated_lufs, true_peak_dbtp = loudness(video)
    assert abs(integrated_lufs + 14) <= 1.0 and true_peak_dbtp <= -1.0


def test_a_video_shorter_than_loudnorms_window_still_reaches_the_loudness(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    short_voice = tmp_path / "short.wav"
    ffmpeg("-i", media["voice"], "-t", "2.5", "-af", "volume=-8dB", short_voice)

    video = render(tmp_path / "work", media, voice=short_voice, music=None)

    integrated_lufs, true_peak_dbtp = loudness(video)
    assert abs(integrated_lufs + 14) <= 2.0 and true_peak_dbtp <= -1.0


def test_a_silent_video_without_subtitles_or_music_still_renders(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    video = render(tmp_path, media, voice=None, subtitles=None, music=None)

    streams = {s["codec_type"]: s for s in probe(video)["streams"]}
    assert streams["audio"]["codec_name"] == "aac" and abs(duration_s(video) - 3.0) <= 0.2


def gray_frame(video: Path, at_s: float, size: tuple[int, int]) -> np.ndarray:
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-ss", str(at_s), "-i", video, "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(size[1], size[0]).astype(int)


def test_subtitles_are_drawn_inside_the_safe_area(tmp_path: Path, media: dict[str, Path]) -> None:
    # A folder name with filtergraph specials proves the subtitle path is escaped.
    odd = tmp_path / "a,b:c'd [x]"
    odd.mkdir()
    subtitles = odd / "cues.ass"
    shutil.copy(media["subtitles"], subtitles)
    with_cues = render(tmp_path / "with", media, subtitles=subtitles, music=None)
    without = render(tmp_path / "without", media, subtitles=None, music=None)

    size = frame_size_px("9:16", "draft")
    changed = np.abs(gray_frame(with_cues, 1.5, size) - gray_frame(without, 1.5, size)) > 60
    rows, columns = np.nonzero(changed)
    assert rows.size > 500  # the cue is there
    margin_px = 10
    assert columns.min() >= margin_px and columns.max() < size[0] - margin_px
    assert rows.min() >= size[1] // 2 and rows.max() < size[1] - margin_px  # bottom, inside


def test_a_broken_clip_fails_permanently_with_ffmpeg_log(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")

    with pytest.raises(PipelineError) as raised:
        render(
            tmp_path / "work",
            media,
            clips=[Clip("local", "x", 5.0, 640, 360, path=broken, container="mov")],
        )

    assert not raised.value.retryable and "broken.mp4" in raised.value.message
    assert not (tmp_path / "work" / "video.mp4").exists()


def tone_level_db(path: Path, frequency_hz: int) -> float:
    """The mean level of the file's audio around `frequency_hz` (a narrow band-pass, twice), in
    dBFS: about that of the tone when one plays there, near silence when none does."""
    band = f"bandpass=f={frequency_hz}:width_type=q:w=10"
    log = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostats", "-i", path, "-vn",
         "-af", f"{band},{band},volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+) dB", log)
    assert found, log
    return float(found.group(1))


def test_a_crafted_song_in_the_folder_never_plays_the_file_it_names(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    # A file an older version accepted: an HLS playlist naming a file of the host (a 2.5 kHz
    # tone), then real MP3 frames (a 220 Hz tone). Left to guess, ffmpeg plays the named file.
    secret = tmp_path / "secret.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=f=2500:d=4", "-c:a", "libmp3lame", secret)
    song = media["song"].read_bytes()
    tag_size = (song[6] << 21) | (song[7] << 14) | (song[8] << 7) | song[9]
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:4.0,\n{secret}\n#EXT-X-ENDLIST\n"
    ).encode()
    songs_dir = tmp_path / "songs"
    songs_dir.mkdir()
    (songs_dir / "hit-0123abcd.mp3").write_bytes(playlist + song[10 + tag_size :])
    music = choose_song(
        FolderSongs(songs_dir), requested="hit-0123abcd.mp3", use_music=True, seed="s",
        work_dir=tmp_path,
    )  # fmt: skip

    video = render(
        tmp_path / "work", media, voice=None, subtitles=None, music=music, music_volume=1.0
    )

    # The song's own frames play; the named file's tone never reaches the video.
    assert tone_level_db(video, 220) > -30
    assert tone_level_db(video, 2500) < -60
