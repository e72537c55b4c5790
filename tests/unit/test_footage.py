"""Footage choices without network or ffmpeg: renditions, orientation, local matching, sources."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from worker.errors import PipelineError
from worker.options import FootageOptions
from worker.pipeline.footage import gather_footage
from worker.providers.footage import (
    GENERATED_KINDS,
    LocalFootage,
    generated_source,
    sidecar_tags,
    words,
)
from worker.providers.stock import (
    Rendition,
    StockVideo,
    choose_rendition,
    orientation,
    parse_pexels,
    parse_pixabay,
    pexels_size,
    rank_videos,
)

PORTRAIT = [Rendition("a", 360, 640), Rendition("b", 1080, 1920), Rendition("c", 2160, 3840)]


def test_smallest_rendition_that_fills_the_frame() -> None:
    assert choose_rendition(PORTRAIT, width_px=1080, height_px=1920) == PORTRAIT[1]
    assert choose_rendition(PORTRAIT, width_px=540, height_px=960) == PORTRAIT[1]


def test_largest_rendition_when_none_fills_the_frame() -> None:
    assert choose_rendition(PORTRAIT, width_px=2400, height_px=4000) == PORTRAIT[2]


def test_landscape_rendition_fills_a_portrait_frame_only_when_tall_enough() -> None:
    landscape = [Rendition("hd", 1920, 1080), Rendition("4k", 3840, 2160)]
    assert choose_rendition(landscape, width_px=1080, height_px=1920) == landscape[1]
    assert choose_rendition(landscape, width_px=540, height_px=960) == landscape[0]


def test_renditions_known_to_exceed_the_download_limit_are_skipped() -> None:
    sized = [Rendition("big", 1080, 1920, 500), Rendition("small", 720, 1280, 100)]
    assert choose_rendition(sized, width_px=1080, height_px=1920, max_bytes=200) == sized[1]
    assert choose_rendition(sized, width_px=1080, height_px=1920, max_bytes=50) is None


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1080, 1920), "portrait"), ((1920, 1080), "landscape"), ((1080, 1080), "square"),
     ((1080, 1060), "square")],
)  # fmt: skip
def test_orientation_by_aspect(size: tuple[int, int], expected: str) -> None:
    assert orientation(*size) == expected


@pytest.mark.parametrize(
    ("size", "expected"), [((540, 960), "small"), ((1080, 1920), "medium"), ((2160, 3840), "large")]
)
def test_pexels_size_filter_follows_the_frame(size: tuple[int, int], expected: str) -> None:
    assert pexels_size(*size) == expected


def _video(video_id: str, width_px: int, height_px: int, duration_s: float) -> StockVideo:
    return StockVideo("Pexels", video_id, duration_s, (Rendition(video_id, width_px, height_px),))


def test_ranking_puts_orientation_first_then_length_and_skips_used() -> None:
    videos = [
        _video("wide", 1920, 1080, 30),
        _video("short", 1080, 1920, 2),
        _video("used", 1080, 1920, 30),
        _video("good", 1080, 1920, 30),
    ]
    ranked = rank_videos(videos, width_px=1080, height_px=1920, duration_s=5, used={"Pexels:used"})
    assert [video.video_id for video in ranked] == ["good", "short", "wide"]


def test_pexels_answer_skips_playlists_and_sizeless_files() -> None:
    payload = {"videos": [{"id": 7, "duration": 12, "video_files": [
        {"quality": "hd", "file_type": "video/mp4", "width": 1080, "height": 1920, "link": "x"},
        {"quality": "hls", "file_type": "video/mp4", "width": None, "height": None, "link": "y"},
        {"quality": "sd", "file_type": "video/webm", "width": 540, "height": 960, "link": "z"},
    ]}]}  # fmt: skip
    [video] = parse_pexels(payload)
    assert (video.key, video.duration_s) == ("Pexels:7", 12.0)
    assert video.renditions == (Rendition("x", 1080, 1920),)


def test_pixabay_answer_skips_sizes_it_lacks() -> None:
    empty = {"url": "", "width": 0, "height": 0, "size": 0}
    payload = {"hits": [{"id": 9, "duration": 4, "videos": {
        "large": empty, "medium": {"url": "m", "width": 1080, "height": 1920, "size": 99},
        "small": empty, "tiny": {"url": "t", "width": 360, "height": 640, "size": 9},
    }}]}  # fmt: skip
    [video] = parse_pixabay(payload)
    assert video.key == "Pixabay:9"
    assert video.renditions == (Rendition("m", 1080, 1920, 99), Rendition("t", 360, 640, 9))


@pytest.mark.parametrize("payload", [None, [], {"videos": "no"}, {"hits": [None, 3]}])
def test_malformed_answers_give_no_videos(payload: object) -> None:
    assert parse_pexels(payload) == [] and parse_pixabay(payload) == []


def test_words_fold_case_plurals_and_stop_words() -> None:
    assert words("The_Ocean-Waves of Glass") == {"ocean", "wave", "glass"}


def test_local_folder_matches_by_name_and_sidecar_tags(tmp_path: Path) -> None:
    for name in ("ocean_waves.mp4", "DSC0001.mov", "forest.webm", "notes.txt", "song.mp3"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "DSC0001.txt").write_text("waves, sea\nsurf at dawn")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "wave.mp4").write_bytes(b"")
    local = LocalFootage(tmp_path, ffmpeg_exe="ffmpeg", warn=lambda _message: None)

    assert sidecar_tags(tmp_path / "DSC0001.mov") == {"wave", "sea", "surf", "dawn"}
    assert local.matches("ocean waves") == [tmp_path / "ocean_waves.mp4", tmp_path / "DSC0001.mov"]
    assert local.matches("surfing the sea") == [tmp_path / "DSC0001.mov"]
    assert local.matches("mountains") == []


def _filters(description: str) -> list[tuple[str, dict[str, str]]]:
    """A lavfi chain as (name, options): no labels, quotes or escapes needed anywhere."""
    assert re.fullmatch(r"[A-Za-z0-9_=:.,+*/x-]+", description), description
    parsed = []
    for text in description.split(","):
        name, _, options = text.partition("=")
        pairs = [option.split("=", 1) for option in options.split(":")] if options else []
        assert all(len(pair) == 2 for pair in pairs), text
        parsed.append((name, dict(pairs)))
    return parsed


@pytest.mark.parametrize("scene_index", range(len(GENERATED_KINDS) + 1))
def test_generated_source_is_a_30_fps_lavfi_chain_of_the_scene_length(scene_index: int) -> None:
    filters = _filters(
        generated_source("tides", scene_index, width_px=1080, height_px=1920, duration_s=6.5)
    )
    (source, options), *rest = filters
    assert source in GENERATED_KINDS
    assert rest[-1] == ("trim", {"duration": "6.500"})
    # The rate out of the chain: the last `fps` filter's, else the source's own.
    rates = [options["r"]] + [opts["fps"] for name, opts in rest if name == "fps"]
    assert rates[-1] == "30"


def test_generated_sources_differ_per_scene_and_repeat_per_seed() -> None:
    def sources(seed: str) -> list[str]:
        return [
            generated_source(seed, index, width_px=540, height_px=960, duration_s=4.0)
            for index in range(8)
        ]

    first = sources("tides")
    assert first == sources("tides")
    assert len(set(first)) == len(first)
    kinds = [description.split("=", 1)[0] for description in first]
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert first != sources("volcanoes")


def _gather(source: str, options: FootageOptions, tmp_path: Path, log: list[str]) -> list:
    return gather_footage(
        ["ocean", "sky"], scene_durations_s=[3.0, 4.5], source=source, options=options,
        ffmpeg_exe="ffmpeg", width_px=540, height_px=960, work_dir=tmp_path, seed="s",
        report=lambda level, message: log.append(f"{level}: {message}"),
    )  # fmt: skip


def test_generated_source_gives_one_lavfi_clip_per_scene(tmp_path: Path) -> None:
    clips = _gather("generated", FootageOptions(), tmp_path, [])
    assert [(clip.source, clip.term, clip.duration_s) for clip in clips] == [
        ("generated", "ocean", 3.0), ("generated", "sky", 4.5)
    ]  # fmt: skip
    assert all(clip.lavfi and clip.path is None for clip in clips)


def test_auto_without_keys_or_media_is_generated_quietly(tmp_path: Path) -> None:
    log: list[str] = []
    clips = _gather("auto", FootageOptions(media_dir=tmp_path / "none"), tmp_path, log)
    assert {clip.source for clip in clips} == {"generated"} and log == []


def test_local_without_videos_warns_and_generates(tmp_path: Path) -> None:
    log: list[str] = []
    clips = _gather("local", FootageOptions(media_dir=tmp_path), tmp_path, log)
    assert {clip.source for clip in clips} == {"generated"}
    assert log == [f"warning: the media folder {tmp_path} has no videos"]


@pytest.mark.parametrize(
    ("source", "setting"),
    [("pexels", "PEXELS_API_KEY"), ("pixabay", "MONEYPRINTER_PIXABAY_API_KEY")],
)
def test_explicit_stock_source_without_its_key_fails_naming_the_setting(
    source: str, setting: str, tmp_path: Path
) -> None:
    with pytest.raises(PipelineError) as caught:
        _gather(source, FootageOptions(), tmp_path, [])
    assert setting in caught.value.message
    assert caught.value.retryable is False


def test_unknown_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="unknown footage source 'vimeo'"):
        _gather("vimeo", FootageOptions(), tmp_path, [])
