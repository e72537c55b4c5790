"""Footage is opened only as the container its first bytes show: real files made by ffmpeg are
recognised, and a playlist posing as a video (in the media folder, or downloaded from a stock
site) is skipped with a warning, so the file it names never reaches a render. A picture in the
media folder plays its scene with a slow move over it, upright whichever way the camera stored
it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from app.media import EXIF_ORIENTATION_TAG, find_ffprobe, probe_media, sniff_container
from app.settings import find_ffmpeg
from tests.fakes import pexels
from tests.fakes.pexels import FakeVideo, MediaFile
from tests.fakes.server import serving
from worker.options import FootageOptions
from worker.pipeline.footage import gather_footage
from worker.pipeline.render import plan_render, plan_segments, segment_command
from worker.providers.footage import Scene

FFMPEG = find_ffmpeg()
KEY = "test-key"


def ffmpeg(*args: object) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)],
        check=True, timeout=60,
    )  # fmt: skip


def playlist_naming(target: Path) -> bytes:
    """An HLS playlist whose one segment is a file of the host."""
    return (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("containers")
    made = {}
    for name, codec in (("a.mp4", "libx264"), ("a.mov", "libx264"), ("a.mkv", "libx264"),
                        ("a.webm", "libvpx-vp9")):  # fmt: skip
        made[name] = folder / name
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=288x512:r=30:d=2", "-c:v", codec,
               "-pix_fmt", "yuv420p", made[name])  # fmt: skip
    made["a.wav"] = folder / "a.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", made["a.wav"])
    made["secret.mp4"] = folder / "secret.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=red:s=288x512:r=30:d=2", "-pix_fmt", "yuv420p",
           made["secret.mp4"])  # fmt: skip
    made["playlist.mp4"] = folder / "playlist.mp4"
    made["playlist.mp4"].write_bytes(playlist_naming(made["secret.mp4"]))
    return made


@pytest.mark.parametrize(
    ("name", "container"),
    [("a.mp4", "mov"), ("a.mov", "mov"), ("a.mkv", "matroska"), ("a.webm", "matroska"),
     ("a.wav", "wav"), ("playlist.mp4", None)],
)  # fmt: skip
def test_the_container_is_read_from_the_first_bytes(
    files: dict[str, Path], name: str, container: str | None
) -> None:
    assert sniff_container(files[name]) == container


def test_ffprobe_reads_a_file_only_as_its_container(files: dict[str, Path]) -> None:
    ffprobe = find_ffprobe(FFMPEG)
    if ffprobe is None:
        pytest.skip("needs ffprobe")

    webm = probe_media(files["a.webm"], ffprobe_exe=ffprobe)

    assert webm is not None and (webm["widthPx"], webm["heightPx"]) == (288, 512)
    # Left to guess, ffprobe would describe the secret video the playlist names.
    assert probe_media(files["playlist.mp4"], ffprobe_exe=ffprobe) is None


def gather(source: str, options: FootageOptions, work_dir: Path, warnings: list[str]) -> list:
    picks = gather_footage(
        [Scene(0, "ocean", 2.0, "The ocean.")], source=source, options=options,
        ffmpeg_exe=FFMPEG, width_px=270, height_px=480, work_dir=work_dir, subject="s",
        report=lambda level, message: warnings.append(f"{level}: {message}"),
        sleep=lambda _s: None,
    )  # fmt: skip
    return [pick.clip for pick in picks]


def test_a_playlist_in_the_media_folder_is_skipped_with_a_warning(
    files: dict[str, Path], tmp_path: Path
) -> None:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    (media_dir / "ocean.mp4").write_bytes(files["playlist.mp4"].read_bytes())
    warnings: list[str] = []

    [clip] = gather("local", FootageOptions(media_dir=media_dir), tmp_path / "job", warnings)

    assert clip.source == "generated" and clip.path is None
    assert warnings[0] == (
        "warning: local: ocean.mp4 is not an MP4/MOV or WebM/Matroska video; skipped"
    )


def test_a_real_video_beside_it_is_used_as_its_container(
    files: dict[str, Path], tmp_path: Path
) -> None:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    (media_dir / "ocean.mp4").write_bytes(files["playlist.mp4"].read_bytes())
    (media_dir / "ocean-waves.webm").write_bytes(files["a.webm"].read_bytes())
    warnings: list[str] = []

    [clip] = gather("local", FootageOptions(media_dir=media_dir), tmp_path / "job", warnings)

    assert (clip.source, clip.container) == ("local", "matroska")
    assert clip.path == (media_dir / "ocean-waves.webm").resolve()


def test_a_download_that_is_no_video_is_skipped_and_deleted(
    files: dict[str, Path], tmp_path: Path
) -> None:
    media = {
        "disguised.mp4": MediaFile(files["playlist.mp4"], 288, 512),
        "real.mp4": MediaFile(files["a.mp4"], 288, 512),
    }
    videos = [FakeVideo(1, 10, ("disguised.mp4",), "ocean"), FakeVideo(2, 10, ("real.mp4",))]
    warnings: list[str] = []
    with serving(pexels.handler(videos=videos, media=media, api_key=KEY)) as url:
        options = FootageOptions(pexels_api_key=KEY, pexels_base_url=url)
        [clip] = gather("pexels", options, tmp_path, warnings)

    assert (clip.source, clip.container) == ("Pexels", "mov")
    assert clip.path is not None and clip.path.read_bytes() == files["a.mp4"].read_bytes()
    assert warnings[0] == (
        "warning: Pexels: video 1 is not an MP4/MOV or WebM/Matroska file; skipped"
    )
    assert [path.name for path in (tmp_path / "footage").iterdir()] == [clip.path.name]


@pytest.mark.parametrize(("suffix", "container"), [("jpg", "jpeg_pipe"), ("png", "png_pipe"),
                                                  ("webp", "webp_pipe")])  # fmt: skip
def test_a_picture_in_the_media_folder_is_moved_over_for_its_scene(
    suffix: str, container: str, tmp_path: Path
) -> None:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    picture = media_dir / f"ocean-waves-at-dawn.{suffix}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=800x600", "-frames:v", "1", picture)
    (media_dir / "ocean-postcard.jpg").write_text("not a picture")
    warnings: list[str] = []

    [clip] = gather("local", FootageOptions(media_dir=media_dir), tmp_path / "job", warnings)

    assert (clip.still, clip.container, clip.path) == (True, container, picture.resolve())
    assert (clip.width_px, clip.height_px, clip.duration_s) == (800, 600, 2.0)  # the scene's
    assert "warning: local: ocean-postcard.jpg is not a JPEG, PNG or WebP picture; skipped" in (
        warnings
    )
    plan = plan_render(
        aspect="9:16", quality="draft", duration_s=2.0, clips=[clip], scene_lengths_s=[2.0],
        voice=None, subtitles=None, music=None, music_volume=0.0, fonts_dir=None,
    )  # fmt: skip
    frame_bytes = plan.width_px * plan.height_px * 3 // 2
    segments = [
        segment_command(segment, plan, ffmpeg_exe=FFMPEG) for segment in plan_segments(plan)
    ]
    first = subprocess.run(segments[0], capture_output=True, check=True, timeout=60).stdout
    assert len(first) == 75 * frame_bytes  # exactly the segment's frames: 2 s and the slack
    # It moves: the first and the last frame differ, and so do two frames a second apart.
    assert first[:frame_bytes] != first[-frame_bytes:]
    assert first[:frame_bytes] != first[30 * frame_bytes : 31 * frame_bytes]


@pytest.mark.parametrize("suffix", ["jpg", "png", "webp"])
def test_a_phone_photo_stored_sideways_is_shown_upright(suffix: str, tmp_path: Path) -> None:
    """A camera held upright stores its picture sideways with EXIF orientation 6 ("turn 90°
    clockwise to show"): red on the stored left becomes the shown top, in every format (ffmpeg
    alone turns a JPEG, not a PNG or a WebP)."""
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    stored = Image.new("RGB", (800, 600), "blue")
    stored.paste(Image.new("RGB", (400, 600), "red"), (0, 0))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    stored.save(media_dir / f"harbour-at-dawn.{suffix}", exif=exif)

    [clip] = gather("local", FootageOptions(media_dir=media_dir), tmp_path / "job", [])

    assert (clip.orientation, clip.width_px, clip.height_px) == (6, 600, 800)  # portrait
    plan = plan_render(
        aspect="9:16", quality="draft", duration_s=1.0, clips=[clip], scene_lengths_s=[1.0],
        voice=None, subtitles=None, music=None, music_volume=0.0, fonts_dir=None,
    )  # fmt: skip
    command = segment_command(plan_segments(plan)[0], plan, ffmpeg_exe=FFMPEG)
    frames = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    luma = frames[: plan.width_px * plan.height_px]  # the first frame's Y plane
    quarter = plan.width_px * plan.height_px // 4
    top, bottom = luma[:quarter], luma[-quarter:]
    # Red shows brighter than blue in luma (≈ 81 against ≈ 41).
    assert sum(top) / len(top) > 70 and sum(bottom) / len(bottom) < 50
