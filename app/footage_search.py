"""A reviewer's footage search: the stock sites the server has keys for, asked from the API
(app/stock.py says what to ask and how to read the answer), their videos as storyboard clips."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from app.settings import Settings
from app.stock import (
    SITES,
    Request,
    StockVideo,
    choose_rendition,
    lookup_request,
    parse_answer,
    search_request,
)
from app.storyboard import StoryClip

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
KEY_SETTINGS = {"Pexels": "PEXELS_API_KEY", "Pixabay": "MONEYPRINTER_PIXABAY_API_KEY"}


class SearchError(Exception):
    """No site could be asked, or every one asked failed; the message says which and why."""


def configured_sites(settings: Settings, source: str = "auto") -> list[str]:
    """The sites to ask for `source` (`auto`, `pexels`, `pixabay`); SearchError when none has a
    key."""
    wanted = [site for site in SITES if source in ("auto", site.lower())]
    sites = [site for site in wanted if _site(settings, site)["api_key"]]
    if not sites:
        needed = " or ".join(KEY_SETTINGS[site] for site in wanted)
        raise SearchError(f"no stock footage site is configured on this server: set {needed}")
    return sites


async def search(
    term: str, sites: Sequence[str], *, settings: Settings, size_px: tuple[int, int]
) -> tuple[list[StoryClip], list[str]]:
    """Each site's videos for `term` (in the site's order, Pexels first), offered at the
    rendition a render of `size_px` would download, and a warning for each site that failed.
    SearchError when every site failed."""
    width_px, height_px = size_px
    requests = [
        search_request(site, term, width_px=width_px, height_px=height_px, **_site(settings, site))
        for site in sites
    ]
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        answers = await asyncio.gather(
            *(_ask(http, site, request) for site, request in zip(sites, requests, strict=True))
        )
    clips, warnings = [], []
    for answer in answers:
        if isinstance(answer, str):
            warnings.append(answer)
            continue
        clips += _clips(answer, settings=settings, size_px=size_px)
    if warnings and len(warnings) == len(sites):
        raise SearchError("; ".join(warnings))
    return clips, warnings


async def lookup(key: str, *, settings: Settings, size_px: tuple[int, int]) -> StoryClip | str:
    """The stock clip a key names (`Pexels:855386`), asked of its site; else why not."""
    site, _, video_id = key.partition(":")
    if site not in SITES or not video_id.isdigit():
        return f"{key!r} names no stock clip (Pexels:<id> or Pixabay:<id>)"
    try:
        configured_sites(settings, site.lower())
    except SearchError as exc:
        return str(exc)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        answer = await _ask(http, site, lookup_request(site, video_id, **_site(settings, site)))
    if isinstance(answer, str):
        return answer
    found = [
        clip for clip in _clips(answer, settings=settings, size_px=size_px) if clip.id == video_id
    ]
    return found[0] if found else f"{site}: no video {video_id} that can be used"


def _site(settings: Settings, site: str) -> dict[str, str]:
    if site == "Pexels":
        return {"api_key": settings.pexels_api_key, "base_url": settings.pexels_base_url}
    return {"api_key": settings.pixabay_api_key, "base_url": settings.pixabay_base_url}


async def _ask(http: httpx.AsyncClient, site: str, request: Request) -> list[StockVideo] | str:
    """The site's videos, or what went wrong (never with the key: Pixabay's is in the URL)."""
    try:
        response = await http.get(request.url, params=request.params, headers=request.headers)
    except httpx.TimeoutException:
        return f"{site}: timed out"
    except httpx.TransportError as exc:
        return f"{site}: could not connect ({type(exc).__name__})"
    if response.status_code in (401, 403) or (site == "Pixabay" and response.status_code == 400):
        return f"{site}: the API key was refused ({response.status_code})"
    if response.status_code == 404:
        return f"{site}: no video {request.url.rsplit('/', 1)[-1]}"
    if response.status_code == 429:
        return f"{site}: rate limited; try again later"
    if not response.is_success:
        return f"{site}: HTTP {response.status_code}"
    try:
        return parse_answer(site, response.json())
    except ValueError:
        return f"{site}: the answer is not JSON"


def _clips(
    videos: list[StockVideo], *, settings: Settings, size_px: tuple[int, int]
) -> list[StoryClip]:
    clips = []
    for video in videos:
        rendition = choose_rendition(
            video.renditions, width_px=size_px[0], height_px=size_px[1],
            max_bytes=settings.max_download_bytes,
        )  # fmt: skip
        if rendition is None:
            continue
        preview = video.preview
        clips.append(
            StoryClip(
                source=video.provider, id=video.video_id, description=video.description,
                duration_s=video.duration_s, width_px=rendition.width_px,
                height_px=rendition.height_px, page_url=video.page_url, author=video.author,
                thumbnail_url=video.thumbnail_url, preview_url=preview.url if preview else "",
                download_url=rendition.url,
            )
        )  # fmt: skip
    return clips
