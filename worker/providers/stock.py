"""Stock footage from Pexels and Pixabay: search, pick a clip and a rendition, download it."""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from worker.cache import FileCache, cache_key
from worker.errors import ProviderError
from worker.media import VIDEO_CONTAINER_NAMES, VIDEO_CONTAINERS, Clip, sniff_container
from worker.providers.footage import Candidate, Scene, Warn
from worker.providers.http import Sleep, download, redact, request_json

STAGE = "footage"
CACHE_KIND = "footage"
PEXELS_PER_PAGE = 15
PIXABAY_PER_PAGE = 20  # Pixabay accepts 3..200
PIXABAY_QUERY_CHARS = 100  # Pixabay refuses longer `q` values
SQUARE_TOLERANCE = 0.05  # within 5 %, a frame counts as square


@dataclass(frozen=True)
class Rendition:
    url: str
    width_px: int
    height_px: int
    size_bytes: int | None = None

    @property
    def pixels(self) -> int:
        return self.width_px * self.height_px


@dataclass(frozen=True)
class StockVideo:
    provider: str
    video_id: str
    duration_s: float
    renditions: tuple[Rendition, ...]
    description: str = ""  # the site's words for it: Pexels' page slug, Pixabay's tags
    page_url: str = ""
    author: str = ""
    thumbnail_url: str = ""  # a still of it, as the site serves one

    @property
    def preview(self) -> Rendition | None:
        """Its smallest rendition: what a person looking it over is shown playing."""
        return min(self.renditions, key=lambda r: r.pixels, default=None)


def orientation(width_px: int, height_px: int) -> str:
    """`portrait`, `landscape` or `square`: Pexels' names for its orientation filter."""
    if abs(width_px - height_px) <= SQUARE_TOLERANCE * max(width_px, height_px):
        return "square"
    return "portrait" if height_px > width_px else "landscape"


def covers(rendition: Rendition, *, width_px: int, height_px: int) -> bool:
    """Whether a cover-crop of the rendition fills the frame without upscaling."""
    return rendition.width_px >= width_px and rendition.height_px >= height_px


def choose_rendition(
    renditions: Iterable[Rendition], *, width_px: int, height_px: int, max_bytes: int | None = None
) -> Rendition | None:
    """The smallest rendition that fills the frame, else the largest (known oversize excluded)."""
    usable = [r for r in renditions if max_bytes is None or (r.size_bytes or 0) <= max_bytes]
    if not usable:
        return None
    adequate = [r for r in usable if covers(r, width_px=width_px, height_px=height_px)]
    if adequate:
        return min(adequate, key=lambda r: (r.pixels, r.size_bytes or 0))
    return max(usable, key=lambda r: (r.pixels, -(r.size_bytes or 0)))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _items(payload: Any, key: str) -> list[dict[str, Any]]:
    items = payload.get(key) if isinstance(payload, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _url(value: Any) -> str:
    """An http(s) address the site gave, else empty."""
    text = _text(value)
    return text if text.startswith(("https://", "http://")) else ""


def _duration_s(item: dict[str, Any]) -> float:
    value = item.get("duration")
    return float(value) if isinstance(value, int | float) else 0.0


def _rendition(entry: dict[str, Any], url_key: str) -> Rendition | None:
    url = entry.get(url_key)
    width_px, height_px = _int(entry.get("width")), _int(entry.get("height"))
    if not isinstance(url, str) or not url or width_px is None or height_px is None:
        return None
    return Rendition(url, width_px, height_px, _int(entry.get("size")))


def parse_pexels(payload: Any) -> list[StockVideo]:
    """`videos[].video_files[]`, MP4 files with a size only (Pexels also lists HLS playlists)."""
    videos = []
    for item in _items(payload, "videos"):
        files = [
            file
            for file in _items(item, "video_files")
            if file.get("file_type") == "video/mp4" and file.get("quality") != "hls"
        ]
        renditions = tuple(r for file in files if (r := _rendition(file, "link")) is not None)
        page_url = _text(item.get("url"))
        user = item.get("user")
        videos.append(
            StockVideo(
                "Pexels", str(item.get("id")), _duration_s(item), renditions,
                description=pexels_slug_words(page_url), page_url=page_url,
                author=_text(user.get("name")) if isinstance(user, dict) else "",
                thumbnail_url=_url(item.get("image")),
            )
        )  # fmt: skip
    return videos


def pexels_slug_words(page_url: str) -> str:
    """The words of a Pexels video page's slug: `…/video/surfer-riding-a-wave-855386/` →
    "surfer riding a wave" (a page named by its number alone has none)."""
    slug = page_url.rstrip("/").rsplit("/", 1)[-1]
    return " ".join(word for word in slug.split("-") if word and not word.isdigit())


def parse_pixabay(payload: Any) -> list[StockVideo]:
    """`hits[].videos.{large,medium,small,tiny}`; a size Pixabay lacks has an empty url."""
    videos = []
    for item in _items(payload, "hits"):
        sizes = item.get("videos")
        entries = (
            [e for e in sizes.values() if isinstance(e, dict)] if isinstance(sizes, dict) else []
        )
        renditions = tuple(r for entry in entries if (r := _rendition(entry, "url")) is not None)
        # Each size names a still of its own; the smallest one is enough to look at.
        stills = [_url(entry.get("thumbnail")) for entry in reversed(entries)]
        videos.append(
            StockVideo(
                "Pixabay", str(item.get("id")), _duration_s(item), renditions,
                description=_text(item.get("tags")), page_url=_text(item.get("pageURL")),
                author=_text(item.get("user")), thumbnail_url=next(filter(None, stills), ""),
            )
        )  # fmt: skip
    return videos


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


class StockFootage(ABC):
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

    @abstractmethod
    def search(self, term: str) -> list[StockVideo]:
        """The provider's videos for `term`, in its own order."""

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

    def search(self, term: str) -> list[StockVideo]:
        payload = self._get_json(
            f"{self._base_url}/videos/search",
            headers={"Authorization": self._api_key},
            params={
                "query": term,
                "orientation": orientation(self._width_px, self._height_px),
                "size": pexels_size(self._width_px, self._height_px),
                "per_page": PEXELS_PER_PAGE,
            },
        )
        return parse_pexels(payload)


def pexels_size(width_px: int, height_px: int) -> str:
    """Pexels' minimum-size filter: `large` is 4K, `medium` Full HD, `small` HD."""
    long_side_px = max(width_px, height_px)
    if long_side_px > 1920:
        return "large"
    return "medium" if long_side_px > 1280 else "small"


class PixabayFootage(StockFootage):
    """`GET /videos/?key=…`: the key is a query parameter, so URLs are redacted before logging."""

    name = "Pixabay"

    def search(self, term: str) -> list[StockVideo]:
        payload = self._get_json(
            f"{self._base_url}/videos/",
            params={
                "key": self._api_key,
                "q": term[:PIXABAY_QUERY_CHARS],
                "video_type": "film",
                "safesearch": "true",
                "per_page": PIXABAY_PER_PAGE,
            },
        )
        return parse_pixabay(payload)


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
