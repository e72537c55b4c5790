"""Pexels and Pixabay as their APIs document them, for the worker (search, download) and the
API (a reviewer's search): the requests, and what their answers say of each video."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PEXELS_PER_PAGE = 15
PIXABAY_PER_PAGE = 20  # Pixabay accepts 3..200
PIXABAY_QUERY_CHARS = 100  # Pixabay refuses longer `q` values
SQUARE_TOLERANCE = 0.05  # within 5 %, a frame counts as square
SITES = ("Pexels", "Pixabay")


@dataclass(frozen=True)
class Request:
    """A GET to send: Pexels takes its key in a header, Pixabay in the query (redact its URL)."""

    url: str
    params: dict[str, str | int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def search_request(
    site: str, term: str, *, api_key: str, base_url: str, width_px: int, height_px: int
) -> Request:
    """The site's video search for `term`, for a frame of this size."""
    base_url = base_url.rstrip("/")
    if site == "Pexels":
        return Request(
            f"{base_url}/videos/search",
            {
                "query": term, "orientation": orientation(width_px, height_px),
                "size": pexels_size(width_px, height_px), "per_page": PEXELS_PER_PAGE,
            },
            {"Authorization": api_key},
        )  # fmt: skip
    return Request(
        f"{base_url}/videos/",
        {
            "key": api_key, "q": term[:PIXABAY_QUERY_CHARS], "video_type": "film",
            "safesearch": "true", "per_page": PIXABAY_PER_PAGE,
        },
    )  # fmt: skip


def lookup_request(site: str, video_id: str, *, api_key: str, base_url: str) -> Request:
    """One video by its id: Pexels' `GET /videos/videos/{id}`, Pixabay's search with `id`."""
    base_url = base_url.rstrip("/")
    if site == "Pexels":
        return Request(f"{base_url}/videos/videos/{video_id}", {}, {"Authorization": api_key})
    return Request(f"{base_url}/videos/", {"key": api_key, "id": video_id})


def parse_answer(site: str, payload: Any) -> list[StockVideo]:
    """The videos of a search's (or a lookup's) answer."""
    if site == "Pexels":
        if isinstance(payload, dict) and "video_files" in payload:  # a lookup: the video itself
            payload = {"videos": [payload]}
        return parse_pexels(payload)
    return parse_pixabay(payload)


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


def pexels_size(width_px: int, height_px: int) -> str:
    """Pexels' minimum-size filter: `large` is 4K, `medium` Full HD, `small` HD."""
    long_side_px = max(width_px, height_px)
    if long_side_px > 1920:
        return "large"
    return "medium" if long_side_px > 1280 else "small"
