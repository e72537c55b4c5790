"""Stock footage from Pexels and Pixabay: search, pick a clip and a rendition, download it."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from app.media import VIDEO_CONTAINER_NAMES, VIDEO_CONTAINERS, Clip, sniff_container
from app.stock import Rendition, StockVideo, choose_rendition, parse_answer, search_request
from worker.cache import FileCache, cache_key
from worker.errors import ProviderError
from worker.providers.footage import Candidate, Scene, Warn
from worker.providers.http import Sleep, download, redact, request_json

STAGE = "footage"
CACHE_KIND = "footage"


def _offered(candidate: Candidate) -> tuple[StockVideo, Rendition]:
    """The video and rendition a candidate was offered at, from the candidate alone."""
    if not candidate.download_url:
        raise ProviderError(
            candidate.source, f"clip {candidate.clip_id} has no download address", retryable=False,
            stage=STAGE,
        )  # fmt: skip
    rendition = Rendition(candidate.download_url, candidate.width_px, candidate.height_px)
    video = StockVideo(
        candidate.source, candidate.clip_id, candidate.duration_s, (rendition,),
        candidate.description, candidate.page_url, candidate.author, candidate.thumbnail_url,
    )  # fmt: skip
    return video, rendition


class StockFootage:
    """A footage provider over one stock search API, for one video."""

    name = "stock"

    def __init__(
        self, *, api_key: str, base_url: str, http: httpx.Client, width_px: int, height_px: int,
        max_download_bytes: int, warn: Warn, sleep: Sleep = time.sleep,
        cache: FileCache | None = None,
    ) -> None:  # fmt: skip
        self._api_key = api_key
        self._cache = cache
        self._warn = warn
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._width_px = width_px
        self._height_px = height_px
        self._max_download_bytes = max_download_bytes
        self._sleep = sleep
        self._found: dict[str, tuple[StockVideo, Rendition]] = {}  # by id, from the searches
        redact_httpx_log()

    def search(self, term: str) -> list[StockVideo]:
        """The provider's videos for `term`, in its own order."""
        request = search_request(
            self.name, term, api_key=self._api_key, base_url=self._base_url,
            width_px=self._width_px, height_px=self._height_px,
        )  # fmt: skip
        payload = self._get_json(request.url, params=request.params, headers=request.headers)
        return parse_answer(self.name, payload)

    def candidates(self, scene: Scene) -> list[Candidate]:
        """The search's videos that have a rendition within the download limit, each offered
        at the rendition `fetch` would download."""
        with self._keep_key_secret():
            videos = self.search(scene.term)
        offered = []
        for video in videos:
            rendition = choose_rendition(
                video.renditions, width_px=self._width_px, height_px=self._height_px,
                max_bytes=self._max_download_bytes,
            )  # fmt: skip
            if rendition is None:
                continue
            self._found[video.video_id] = (video, rendition)
            offered.append(
                Candidate(
                    self.name,
                    video.video_id,
                    video.description,
                    video.duration_s,
                    rendition.width_px,
                    rendition.height_px,
                    video.page_url,
                    video.author,
                    thumbnail_url=video.thumbnail_url,
                    preview_url=video.preview.url if video.preview else "",
                    download_url=rendition.url,
                )
            )
        return offered

    def probe(self, candidate: Candidate) -> Candidate | None:
        return candidate  # the search said it all

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None:
        """The candidate downloaded: one this provider found, or one found before (a reviewed
        storyboard's), by the rendition it was offered at."""
        video, rendition = self._found.get(candidate.clip_id) or _offered(candidate)
        with self._keep_key_secret():
            return self._fetch(scene, video, rendition, work_dir=work_dir)

    def _fetch(
        self, scene: Scene, video: StockVideo, rendition: Rendition, *, work_dir: Path
    ) -> Clip | None:
        """The downloaded clip, or None (with a warning, the file deleted) when the download is
        not in a video container: ffmpeg opens footage only as the container its bytes show. A
        rendition in the cache (site, id and size) is not downloaded again."""
        folder = work_dir / "footage"
        folder.mkdir(parents=True, exist_ok=True)
        safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", video.video_id)
        stem = f"{self.name.lower()}-{safe_id}-{rendition.width_px}x{rendition.height_px}"
        destination = folder / f"{stem}.mp4"
        # The site's address too: a clip id of one server is not another's (a test's, a proxy's).
        entry = f"{stem}-{cache_key(self._base_url)[:12]}"
        cache = self._cache
        cached = None if cache is None else cache.take(CACHE_KIND, entry, ".mp4", destination)
        path = cached or download(
            self._http, rendition.url, destination, provider=self.name, stage=STAGE,
            max_bytes=self._max_download_bytes, sleep=self._sleep,
        )  # fmt: skip
        container = sniff_container(path)
        if container not in VIDEO_CONTAINERS:
            path.unlink(missing_ok=True)
            self._warn(
                f"{self.name}: video {video.video_id} is not an {VIDEO_CONTAINER_NAMES} file; "
                "skipped"
            )
            return None
        if cached is None and cache is not None:
            cache.keep(CACHE_KIND, entry, ".mp4", path)
        return Clip(
            source=self.name, term=scene.term, duration_s=video.duration_s,
            width_px=rendition.width_px, height_px=rendition.height_px, path=path,
            container=container,
        )  # fmt: skip

    def _get_json(self, url: str, **kwargs: Any) -> Any:
        return request_json(
            self._http, "GET", url, provider=self.name, stage=STAGE, sleep=self._sleep, **kwargs
        )

    @contextmanager
    def _keep_key_secret(self) -> Iterator[None]:
        """http.py redacts URLs; this also covers a server that echoes the key in its answer."""
        try:
            yield
        except ProviderError as exc:
            if not self._api_key or self._api_key not in exc.message:
                raise
            detail = exc.message.removeprefix(f"{self.name}: ").replace(self._api_key, "***")
            raise ProviderError(self.name, detail, retryable=exc.retryable, stage=STAGE) from None


class PexelsFootage(StockFootage):
    """`GET /videos/search`, the key in the `Authorization` header."""

    name = "Pexels"


class PixabayFootage(StockFootage):
    """`GET /videos/?key=…`: the key is a query parameter, so URLs are redacted before logging."""

    name = "Pixabay"


class _RedactUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def redact_httpx_log() -> None:
    """httpx logs every request's full URL at INFO, which would put Pixabay's key in the log."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _RedactUrls) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_RedactUrls())
