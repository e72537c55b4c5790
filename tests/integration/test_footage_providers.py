"""Footage from fake Pexels and Pixabay servers on loopback, a real local folder, and ffmpeg."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.media import Clip, probe_with_ffmpeg
from app.settings import find_ffmpeg
from tests.fakes import pexels, pixabay
from tests.fakes.pexels import FakeVideo, MediaFile, MediaHandler
from tests.fakes.server import serving
from worker.cache import FileCache
from worker.errors import ProviderError
from worker.options import FootageOptions
from worker.pipeline import footage
from worker.pipeline.footage import gather_footage
from worker.providers.footage import LocalFootage, Scene

FFMPEG = find_ffmpeg()
KEY = "sekrit-key-123"
FRAME_PX = (270, 480)  # a small portrait frame: 288×512 is the smallest rendition that fills it
SIZES_PX = [(144, 256), (288, 512), (576, 1024), (256, 144), (512, 288), (1024, 576)]


def _make_mp4(path: Path, width_px: int, height_px: int, duration_s: float) -> None:
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=s={width_px}x{height_px}:r=30:d={duration_s}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MediaFile]:
    folder = tmp_path_factory.mktemp("served")
    served = {}
    for width_px, height_px in SIZES_PX:
        name = f"{width_px}x{height_px}.mp4"
        _make_mp4(folder / name, width_px, height_px, 2.0)
        served[name] = MediaFile(folder / name, width_px, height_px)
    return served


LANDSCAPE = FakeVideo(1, 10, ("256x144.mp4", "512x288.mp4", "1024x576.mp4"), "ocean")
PORTRAIT_SHORT = FakeVideo(2, 3, ("144x256.mp4", "288x512.mp4", "576x1024.mp4"), "ocean")
PORTRAIT_LONG = FakeVideo(3, 8, ("144x256.mp4", "288x512.mp4"), "ocean")
VIDEOS = [LANDSCAPE, PORTRAIT_SHORT, PORTRAIT_LONG]
PROVIDERS = {
    "pexels": (pexels.handler, "Pexels", ""),
    "pixabay": (pixabay.handler, "Pixabay", "/api"),
}


def _options(provider: str, url: str, **extra: object) -> FootageOptions:
    base = url + PROVIDERS[provider][2]
    fields = {f"{provider}_api_key": KEY, f"{provider}_base_url": base, **extra}
    return FootageOptions.model_validate(fields)


def _gather(
    source: str, options: FootageOptions, work_dir: Path, *, terms: list[str] | None = None,
    warnings: list[str] | None = None, cache: FileCache | None = None,
    failures: list[str] | None = None,
) -> list[Clip]:  # fmt: skip
    terms = terms or ["ocean waves", "ocean"]
    log = warnings if warnings is not None else []
    picks = gather_footage(
        [Scene(index, term, 5.0, f"Look at the {term}.") for index, term in enumerate(terms)],
        source=source, options=options, ffmpeg_exe=FFMPEG, width_px=FRAME_PX[0],
        height_px=FRAME_PX[1], work_dir=work_dir, subject="ocean",
        report=lambda level, message: log.append(f"{level}: {message}"), sleep=lambda _s: None,
        cache=cache, failures=failures,
    )  # fmt: skip
    return [pick.clip for pick in picks]


@pytest.fixture(params=list(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(
    provider: str, media: dict[str, MediaFile], request: pytest.FixtureRequest
) -> Iterator[tuple[type[MediaHandler], str]]:
    failure = getattr(request, "param", None)
    handler = PROVIDERS[provider][0](videos=VIDEOS, media=media, failure=failure, api_key=KEY)
    with serving(handler) as url:
        yield handler, url


def test_picks_portrait_smallest_filling_rendition_and_never_reuses(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path, media: dict[str, MediaFile]
) -> None:
    _handler, url = fake
    clips = _gather(provider, _options(provider, url), tmp_path)

    name = PROVIDERS[provider][1]
    assert [clip.source for clip in clips] == [name, name]
    # Both portrait videos, the long one first (the scene is 5 s), each at 288×512.
    assert [clip.duration_s for clip in clips] == [8, 3]
    assert {(clip.width_px, clip.height_px) for clip in clips} == {(288, 512)}
    assert clips[0].path != clips[1].path
    for clip in clips:
        assert clip.path is not None and clip.path.parent == tmp_path / "footage"
        assert clip.path.read_bytes() == media["288x512.mp4"].path.read_bytes()
    assert not list((tmp_path / "footage").glob("*.part"))


def test_a_clip_downloaded_once_is_taken_from_the_cache_by_the_next_video(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path, media: dict[str, MediaFile]
) -> None:
    handler, url = fake
    cache = FileCache(tmp_path / "cache")

    first = _gather(provider, _options(provider, url), tmp_path / "1", cache=cache)
    downloads = [r.path for r in handler.requests if r.path.startswith("/files/")]
    second = _gather(provider, _options(provider, url), tmp_path / "2", cache=cache)

    assert len(downloads) == 2
    assert [r.path for r in handler.requests if r.path.startswith("/files/")] == downloads
    for before, after in zip(first, second, strict=True):
        assert before.path is not None and after.path is not None
        assert after.path.parent == tmp_path / "2" / "footage"
        assert after.path.read_bytes() == media["288x512.mp4"].path.read_bytes()
        assert (before.duration_s, before.width_px) == (after.duration_s, after.width_px)


def test_pexels_sends_key_header_and_filters(media: dict[str, MediaFile], tmp_path: Path) -> None:
    handler = pexels.handler(videos=VIDEOS, media=media, api_key=KEY)
    with serving(handler) as url:
        _gather("pexels", _options("pexels", url), tmp_path, terms=["ocean waves"])

    search = next(r for r in handler.requests if r.path == "/videos/search")
    assert search.headers["Authorization"] == KEY
    assert search.query == {
        "query": "ocean waves",
        "orientation": "portrait",
        "size": "small",
        "per_page": "15",
    }


def test_pixabay_sends_key_param_and_film_type(
    media: dict[str, MediaFile], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handler = pixabay.handler(videos=VIDEOS, media=media, api_key=KEY)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # the CLI quiets it, in any test before
    with serving(handler) as url:
        _gather("pixabay", _options("pixabay", url), tmp_path, terms=["ocean waves"])

    search = next(r for r in handler.requests if r.path == "/api/videos/")
    assert search.query["key"] == KEY
    assert search.query["q"] == "ocean waves"
    assert search.query["video_type"] == "film"
    assert "/api/videos/" in caplog.text  # httpx logged the request, without its query
    assert KEY not in caplog.text


def _raises(provider: str, url: str, work_dir: Path, **extra: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        _gather(provider, _options(provider, url, **extra), work_dir)
    error = caught.value
    assert error.message.startswith(PROVIDERS[provider][1] + ": ")
    assert KEY not in error.message and KEY not in str(error)
    assert error.stage == "footage"
    return error


@pytest.mark.parametrize("fake", ["401"], indirect=True)
def test_refused_key_fails_an_explicit_source_for_good(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    error = _raises(provider, fake[1], tmp_path)
    assert "API key was refused (HTTP 401)" in error.message
    assert error.retryable is False


@pytest.mark.parametrize("fake", ["429-once"], indirect=True)
def test_rate_limit_is_waited_out(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    handler, url = fake
    clips = _gather(provider, _options(provider, url), tmp_path)
    assert [clip.source for clip in clips] == [PROVIDERS[provider][1]] * 2
    assert sum(1 for r in handler.requests if not r.path.startswith("/files/")) == 3


@pytest.mark.parametrize("fake", ["500"], indirect=True)
def test_persistent_server_error_is_retried_then_retryable(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    handler, url = fake
    error = _raises(provider, url, tmp_path)
    assert "unavailable (HTTP 500), after 3 attempts" in error.message
    assert error.retryable is True
    assert len(handler.requests) == 3


@pytest.mark.parametrize("fake", ["empty"], indirect=True)
def test_no_results_fall_back_to_generated_with_a_warning(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    warnings: list[str] = []
    clips = _gather(provider, _options(provider, fake[1]), tmp_path, warnings=warnings)
    assert [clip.source for clip in clips] == ["generated", "generated"]
    assert (
        f"warning: {PROVIDERS[provider][1]}: nothing for 'ocean waves', generated instead"
        in warnings
    )


@pytest.mark.parametrize("fake", ["truncate-once"], indirect=True)
def test_cut_off_download_is_retried(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path, media: dict[str, MediaFile]
) -> None:
    clips = _gather(provider, _options(provider, fake[1]), tmp_path, terms=["ocean"])
    assert clips[0].path is not None
    assert clips[0].path.read_bytes() == media["288x512.mp4"].path.read_bytes()


@pytest.mark.parametrize("fake", ["truncate-always"], indirect=True)
def test_download_cut_off_every_time_fails_retryable(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    error = _raises(provider, fake[1], tmp_path)
    assert error.retryable is True
    assert not list((tmp_path / "footage").iterdir())


@pytest.mark.parametrize("fake", ["oversize"], indirect=True)
def test_oversized_download_is_refused_and_not_kept(
    provider: str, fake: tuple[type[MediaHandler], str], tmp_path: Path
) -> None:
    error = _raises(provider, fake[1], tmp_path, max_download_bytes=1024 * 1024)
    assert "over the 1,048,576-byte limit" in error.message
    assert error.retryable is False
    assert not list((tmp_path / "footage").iterdir())


def test_auto_falls_from_refused_pexels_to_pixabay(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    warnings: list[str] = []
    failures: list[str] = []
    refusing = pexels.handler(videos=VIDEOS, media=media, failure="401", api_key=KEY)
    working = pixabay.handler(videos=VIDEOS, media=media, api_key=KEY)
    with serving(refusing) as pexels_url, serving(working) as pixabay_url:
        options = FootageOptions(
            pexels_api_key=KEY, pexels_base_url=pexels_url,
            pixabay_api_key=KEY, pixabay_base_url=pixabay_url + "/api",
        )  # fmt: skip
        clips = _gather("auto", options, tmp_path, warnings=warnings, failures=failures)

    assert [clip.source for clip in clips] == ["Pixabay", "Pixabay"]
    # Told to the caller too: a pick made without Pexels is not one to keep for a retry.
    assert failures == ["Pexels: the API key was refused (HTTP 401)"]
    assert warnings[0] == (
        "warning: Pexels: the API key was refused (HTTP 401); not asked again for this video"
    )
    # A refused key is not asked again for the second scene.
    assert sum(1 for r in refusing.requests if r.path == "/videos/search") == 1
    assert not any(KEY in warning for warning in warnings)


def test_auto_falls_through_failing_sites_to_local_then_generated(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(media["576x1024.mp4"].path, folder / "Ocean_Waves.mp4")
    warnings: list[str] = []
    with serving(pexels.handler(videos=VIDEOS, media=media, failure="500", api_key=KEY)) as url:
        options = FootageOptions(pexels_api_key=KEY, pexels_base_url=url, media_dir=folder)
        clips = _gather(
            "auto", options, tmp_path / "job", terms=["ocean", "waves"], warnings=warnings
        )

    assert [clip.source for clip in clips] == ["local", "generated"]
    assert clips[0].path == (folder / "Ocean_Waves.mp4").resolve()
    assert (clips[0].width_px, clips[0].height_px) == (576, 1024)
    assert warnings[0].startswith("warning: Pexels: is unavailable (HTTP 500), after 3 attempts")
    assert warnings[-1] == "warning: local: nothing for 'waves', generated instead"


def test_local_folder_offers_every_file_and_probes_the_contenders(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    shutil.copy(media["288x512.mp4"].path, tmp_path / "city-night.MOV")
    shutil.copy(media["512x288.mp4"].path, tmp_path / "clip0001.mkv")
    (tmp_path / "clip0001.txt").write_text("sunset, beach\nGolden Hour\n")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    warnings: list[str] = []
    local = LocalFootage(tmp_path, ffmpeg_exe=FFMPEG, warn=warnings.append)

    offered = {c.clip_id: c for c in local.candidates(Scene(0, "beach", 4.0))}
    assert offered["clip0001.mkv"].description == "clip0001. sunset, beach Golden Hour"
    probed = local.probe(offered["city-night.MOV"])
    assert probed is not None and (probed.width_px, probed.height_px) == (288, 512)
    assert probed.duration_s == pytest.approx(2.0, abs=0.1)
    # A file that is no video is refused once, with a warning, and never offered again.
    assert local.probe(offered["broken.mp4"]) is None
    assert warnings == ["local: broken.mp4 is not an MP4/MOV or WebM/Matroska video; skipped"]
    assert "broken.mp4" not in {c.clip_id for c in local.candidates(Scene(1, "beach", 4.0))}


def test_ffmpeg_banner_gives_size_and_duration_without_ffprobe(
    media: dict[str, MediaFile],
) -> None:
    facts = probe_with_ffmpeg(media["512x288.mp4"].path, ffmpeg_exe=FFMPEG)
    assert facts is not None and (facts.width_px, facts.height_px) == (512, 288)
    assert facts.duration_s == pytest.approx(2.0, abs=0.1)


def _pick_one(
    videos: list[FakeVideo], media: dict[str, MediaFile], tmp_path: Path, *, text: str,
    frame_px: tuple[int, int] = FRAME_PX, warnings: list[str] | None = None,
) -> footage.Pick:  # fmt: skip
    log = warnings if warnings is not None else []
    with serving(pexels.handler(videos=videos, media=media, api_key=KEY)) as url:
        [pick] = gather_footage(
            [Scene(0, "nature", 5.0, text)], source="pexels", options=_options("pexels", url),
            ffmpeg_exe=FFMPEG, width_px=frame_px[0], height_px=frame_px[1], work_dir=tmp_path,
            subject="s", report=lambda level, message: log.append(f"{level}: {message}"),
            sleep=lambda _s: None,
        )  # fmt: skip
    return pick


def test_the_clip_whose_words_fit_the_sentence_wins_over_the_search_order(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    files = ("288x512.mp4",)
    videos = [
        FakeVideo(11, 10, files, "busy-city-traffic-at-night"),
        FakeVideo(12, 10, files, "pine-forest-in-the-fog"),
        FakeVideo(13, 10, files, "waves-crashing-on-a-rocky-shore"),
    ]
    pick = _pick_one(videos, media, tmp_path, text="All night the sea pounds the cliffs.")
    assert pick.chosen is not None and pick.chosen.candidate.clip_id == "13"
    assert pick.considered == 3
    credit = pick.credit()
    assert credit["description"] == "waves crashing on a rocky shore"
    assert credit["pageUrl"] == "https://www.pexels.com/video/waves-crashing-on-a-rocky-shore-13/"
    assert credit["author"] == "Fake Filmer" and credit["upscaled"] is False


def test_a_clip_smaller_than_the_frame_is_used_with_a_warning(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    warnings: list[str] = []
    pick = _pick_one(
        [PORTRAIT_SHORT], media, tmp_path, text="Waves.", frame_px=(1080, 1920), warnings=warnings
    )
    assert pick.chosen is not None and pick.chosen.upscaled
    assert (pick.clip.width_px, pick.clip.height_px) == (576, 1024)
    assert warnings[-1] == (
        "warning: Scene 1: the clip is 576x1024, smaller than the 1080x1920 frame, and will be "
        "upscaled (no clip found is that large)"
    )


def test_in_auto_a_download_that_keeps_failing_is_a_warning_not_a_failure(
    media: dict[str, MediaFile], tmp_path: Path
) -> None:
    warnings: list[str] = []
    failing = pexels.handler(videos=VIDEOS, media=media, failure="truncate-always", api_key=KEY)
    with serving(failing) as url:
        options = FootageOptions(pexels_api_key=KEY, pexels_base_url=url)
        clips = _gather("auto", options, tmp_path, terms=["ocean"], warnings=warnings)

    assert [clip.source for clip in clips] == ["generated"]
    assert any("the next clip is tried" in warning for warning in warnings), warnings
    assert not list((tmp_path / "footage").glob("*.part"))
