"""Footage choices without network or ffmpeg: renditions, orientation, what each source says of a
clip, the ranking's rules, sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.media import Clip, file_description
from app.stock import (
    Rendition,
    choose_rendition,
    orientation,
    parse_pexels,
    parse_pixabay,
    pexels_size,
    pexels_slug_words,
)
from worker.errors import PipelineError
from worker.options import FootageOptions
from worker.pipeline.footage import Chooser, gather_footage
from worker.pipeline.match import keyword_relevance, rank, scene_query
from worker.providers.footage import (
    Candidate,
    LocalFootage,
    Scene,
    words,
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


def _candidate(clip_id: str, width_px: int, height_px: int, duration_s: float) -> Candidate:
    return Candidate("Pexels", clip_id, clip_id, duration_s, width_px, height_px)


def test_ranking_weighs_fit_against_orientation_size_and_length() -> None:
    candidates = [
        _candidate("wide", 3840, 2160, 30),  # landscape: a third of it survives the crop
        _candidate("short", 1080, 1920, 2),  # loops
        _candidate("soft", 720, 1280, 30),  # upscaled
        _candidate("good", 1080, 1920, 30),
    ]
    ranked = rank(candidates, [0.5] * 4, width_px=1080, height_px=1920, duration_s=5)
    assert [item.candidate.clip_id for item in ranked] == ["good", "short", "wide", "soft"]
    assert [item.upscaled for item in ranked] == [False, False, False, True]
    # A clip that fits much better wins despite a fault.
    ranked = rank(candidates, [0.3, 0.3, 0.7, 0.3], width_px=1080, height_px=1920, duration_s=5)
    assert ranked[0].candidate.clip_id == "soft"
    assert ranked[0].score == pytest.approx(0.55)


def test_ranking_puts_clips_of_recent_videos_last_whatever_their_fit() -> None:
    candidates = [_candidate("seen", 1080, 1920, 30), _candidate("new", 1080, 1920, 30)]
    ranked = rank(
        candidates, [0.9, 0.1], width_px=1080, height_px=1920, duration_s=5,
        recent=frozenset({"Pexels:seen"}),
    )  # fmt: skip
    assert [(item.candidate.clip_id, item.recent) for item in ranked] == [
        ("new", False), ("seen", True)
    ]  # fmt: skip


def test_keyword_relevance_is_the_share_of_the_query_words_found() -> None:
    found = keyword_relevance("Ocean waves at dawn", ["waves, sea", "desert", "dawn ocean wave"])
    assert found == pytest.approx([1 / 3, 0.0, 1.0])
    assert scene_query("Waves roll in.", "ocean waves") == "Waves roll in."
    assert scene_query("", "ocean") == "ocean"


def test_pexels_answer_skips_playlists_and_sizeless_files() -> None:
    payload = {"videos": [{"id": 7, "duration": 12, "video_files": [
        {"quality": "hd", "file_type": "video/mp4", "width": 1080, "height": 1920, "link": "x"},
        {"quality": "hls", "file_type": "video/mp4", "width": None, "height": None, "link": "y"},
        {"quality": "sd", "file_type": "video/webm", "width": 540, "height": 960, "link": "z"},
    ]}]}  # fmt: skip
    [video] = parse_pexels(payload)
    assert (video.provider, video.video_id, video.duration_s) == ("Pexels", "7", 12.0)
    assert video.renditions == (Rendition("x", 1080, 1920),)
    assert (video.description, video.page_url, video.author) == ("", "", "")


def test_pexels_says_what_a_clip_shows_in_its_page_slug_and_who_filmed_it() -> None:
    page = "https://www.pexels.com/video/surfer-riding-a-big-wave-855386/"
    payload = {"videos": [{"id": 855386, "url": page, "user": {"name": "Ana  Ruiz"}}]}
    [video] = parse_pexels(payload)
    assert (video.description, video.page_url, video.author) == (
        "surfer riding a big wave", page, "Ana Ruiz"
    )  # fmt: skip
    assert pexels_slug_words("https://www.pexels.com/video/5846784/") == ""
    assert pexels_slug_words("https://www.pexels.com/video/video-5846784") == "video"


def test_pixabay_answer_skips_sizes_it_lacks() -> None:
    empty = {"url": "", "width": 0, "height": 0, "size": 0}
    payload = {"hits": [{"id": 9, "duration": 4, "tags": "sea, waves", "user": "k", "videos": {
        "large": empty, "medium": {"url": "m", "width": 1080, "height": 1920, "size": 99},
        "small": empty, "tiny": {"url": "t", "width": 360, "height": 640, "size": 9},
    }}]}  # fmt: skip
    [video] = parse_pixabay(payload)
    assert (video.provider, video.video_id) == ("Pixabay", "9")
    assert video.renditions == (Rendition("m", 1080, 1920, 99), Rendition("t", 360, 640, 9))
    assert (video.description, video.author) == ("sea, waves", "k")


@pytest.mark.parametrize("payload", [None, [], {"videos": "no"}, {"hits": [None, 3]}])
def test_malformed_answers_give_no_videos(payload: object) -> None:
    assert parse_pexels(payload) == [] and parse_pixabay(payload) == []


def test_words_fold_case_plurals_and_stop_words() -> None:
    assert words("The_Ocean-Waves of Glass") == {"ocean", "wave", "glass"}


def test_local_folder_describes_files_by_name_and_sidecar(tmp_path: Path) -> None:
    for name in ("ocean_waves.mp4", "DSC0001.mov", "forest.webm", "notes.txt", "song.mp3"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "DSC0001.txt").write_text("waves, sea\nsurf at dawn")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "wave.mp4").write_bytes(b"")
    local = LocalFootage(tmp_path, ffmpeg_exe="ffmpeg", warn=lambda _message: None)

    offered = local.candidates(Scene(0, "ocean", 4.0))
    assert [(c.clip_id, c.description) for c in offered] == [
        ("DSC0001.mov", "DSC0001. waves, sea surf at dawn"),
        ("forest.webm", "forest"),
        ("ocean_waves.mp4", "ocean waves"),
    ]
    assert not any(c.probed for c in offered)  # sizes are read only for the contenders
    assert file_description("b-roll_CoffeePour.4k.mov") == "b roll Coffee Pour 4k"


def _gather(source: str, options: FootageOptions, tmp_path: Path, log: list[str]) -> list:
    picks = gather_footage(
        [Scene(0, "ocean", 3.0, "The sea."), Scene(1, "sky", 4.5, "The sky.")], source=source,
        options=options, ffmpeg_exe="ffmpeg", width_px=540, height_px=960, work_dir=tmp_path,
        subject="s", report=lambda level, message: log.append(f"{level}: {message}"),
    )  # fmt: skip
    return [pick.clip for pick in picks]


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


class ShelfProvider:
    """An in-memory source: its candidates, which ones turn out unplayable, what it fetched."""

    name = "shelf"

    def __init__(self, offered: list[Candidate], *, broken: frozenset[str] = frozenset()) -> None:
        self.offered = offered
        self.broken = broken
        self.fetched: list[str] = []

    def candidates(self, scene: Scene) -> list[Candidate]:
        return list(self.offered)

    def probe(self, candidate: Candidate) -> Candidate | None:
        return candidate

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None:
        self.fetched.append(candidate.clip_id)
        if candidate.clip_id in self.broken:
            return None
        return Clip("shelf", scene.term, candidate.duration_s, candidate.width_px,
                    candidate.height_px, path=Path(f"/shelf/{candidate.clip_id}.mp4"),
                    container="mov")  # fmt: skip


def _shelf_clip(clip_id: str, description: str, duration_s: float = 10.0) -> Candidate:
    return Candidate("shelf", clip_id, description, duration_s, 1080, 1920)


def _choose(provider: ShelfProvider, scenes: int, **kwargs: object) -> list[str]:
    chooser = Chooser(
        [provider], strict=False, size_px=(1080, 1920), relevance=keyword_relevance,
        report=lambda _level, _message: None, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    chosen = []
    for index in range(scenes):
        pick = chooser.pick(Scene(index, "ocean", 5.0, "ocean waves"), work_dir=Path("/tmp"))
        chosen.append(pick.chosen.candidate.clip_id if pick and pick.chosen else "generated")
    return chosen


def test_a_fresh_clip_beats_recent_ones_even_below_the_best_eight() -> None:
    offered = [_shelf_clip(f"seen{n}", "ocean waves") for n in range(9)]
    offered.append(_shelf_clip("fresh", "ocean"))  # fits worse than all nine
    recent = frozenset(f"shelf:seen{n}" for n in range(9))
    assert _choose(ShelfProvider(offered), 1, recent=recent) == ["fresh"]


def test_a_clip_of_no_known_length_or_one_that_fails_is_never_tried_again() -> None:
    offered = [
        _shelf_clip("nolength", "ocean waves", duration_s=0.0),
        _shelf_clip("broken", "ocean waves"),
        _shelf_clip("good", "ocean"),
    ]
    provider = ShelfProvider(offered, broken=frozenset({"broken"}))
    assert _choose(provider, 2, recent=frozenset()) == ["good", "generated"]
    assert provider.fetched == ["broken", "good"]  # "broken" once, "nolength" never
