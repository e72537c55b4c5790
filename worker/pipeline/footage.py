"""The footage stage: one clip per scene, from stock sites, a local folder, or generated."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from worker.errors import PipelineError, ProviderError
from worker.media import Clip
from worker.options import FootageOptions
from worker.providers.footage import (
    FootageProvider,
    GeneratedFootage,
    LocalFootage,
    Scene,
    Warn,
)
from worker.providers.http import Sleep
from worker.providers.stock import PexelsFootage, PixabayFootage

STAGE = "footage"
SOURCES = ("auto", "pexels", "pixabay", "local", "generated")
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
KEY_SETTINGS = {"pexels": "PEXELS_API_KEY", "pixabay": "MONEYPRINTER_PIXABAY_API_KEY"}

ReportLog = Callable[[str, str], None]  # (level, message)


def gather_footage(
    terms: list[str],
    *,
    scene_durations_s: list[float],
    source: str,
    options: FootageOptions,
    ffmpeg_exe: str,
    width_px: int,
    height_px: int,
    work_dir: Path,
    seed: str,
    report: ReportLog,
    sleep: Sleep = time.sleep,
) -> list[Clip]:
    """One clip per term, in order. `auto` falls through Pexels, Pixabay, the local folder and
    generated backgrounds with a warning at each step; an explicit stock source fails the job
    when its requests fail, and any source falls back to generated when it finds nothing."""
    if len(terms) != len(scene_durations_s):
        raise ValueError("one scene duration per search term")
    if source not in SOURCES:
        raise PipelineError(f"unknown footage source {source!r}", retryable=False, stage=STAGE)
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        chain = _providers(
            source, options=options, http=http, ffmpeg_exe=ffmpeg_exe, width_px=width_px,
            height_px=height_px, sleep=sleep, report=report,
        )  # fmt: skip
        fallback = GeneratedFootage(seed=seed, width_px=width_px, height_px=height_px)
        return [
            _clip_for(
                Scene(index, term, duration_s),
                chain,
                fallback=fallback,
                strict=source != "auto",
                work_dir=work_dir,
                report=report,
            )
            for index, (term, duration_s) in enumerate(zip(terms, scene_durations_s, strict=True))
        ]


def _providers(
    source: str, *, options: FootageOptions, http: httpx.Client, ffmpeg_exe: str,
    width_px: int, height_px: int, sleep: Sleep, report: ReportLog,
) -> list[FootageProvider]:  # fmt: skip
    """The providers to ask, in order, before the generated fallback."""
    keys = {"pexels": options.pexels_api_key, "pixabay": options.pixabay_api_key}
    if source in KEY_SETTINGS and not keys[source]:
        raise PipelineError(
            f"footage source '{source}' needs an API key: set {KEY_SETTINGS[source]}",
            retryable=False,
            stage=STAGE,
        )

    def warn(message: str) -> None:
        report("warning", message)

    chain: list[FootageProvider] = []
    stock_sites = (
        ("pexels", PexelsFootage, options.pexels_base_url),
        ("pixabay", PixabayFootage, options.pixabay_base_url),
    )
    for name, site, base_url in stock_sites:
        if source in ("auto", name) and keys[name]:
            chain.append(
                site(
                    api_key=keys[name],
                    base_url=base_url,
                    http=http,
                    width_px=width_px,
                    height_px=height_px,
                    max_download_bytes=options.max_download_bytes,
                    warn=warn,
                    sleep=sleep,
                )
            )
    if source in ("auto", "local"):
        local = _local(options.media_dir, ffmpeg_exe=ffmpeg_exe, warn=warn)
        if local is not None:
            chain.append(local)
        elif source == "local":
            report("warning", f"the media folder {options.media_dir} has no videos")
    return chain


def _local(media_dir: Path | None, *, ffmpeg_exe: str, warn: Warn) -> LocalFootage | None:
    if media_dir is None or not media_dir.is_dir():
        return None
    local = LocalFootage(media_dir, ffmpeg_exe=ffmpeg_exe, warn=warn)
    return local if local.has_videos else None


def _clip_for(
    scene: Scene, chain: list[FootageProvider], *, fallback: GeneratedFootage, strict: bool,
    work_dir: Path, report: ReportLog,
) -> Clip:  # fmt: skip
    """Ask each provider in turn; in auto mode a failed provider leaves the chain for good (a
    refused key or a rate limit will not clear up within one video)."""
    providers = list(chain) if scene.term.strip() else []
    for position, provider in enumerate(providers):
        following = providers[position + 1].name if position + 1 < len(providers) else "generated"
        try:
            clip = provider.find(scene, work_dir=work_dir)
        except ProviderError as exc:
            if strict:
                raise
            chain.remove(provider)
            report("warning", f"{exc.message}; using {following} for '{scene.term}'")
            continue
        if clip is not None:
            report("info", f"{provider.name}: footage for '{scene.term}' found")
            return clip
        report("warning", f"{provider.name}: nothing for '{scene.term}', using {following}")
    return fallback.find(scene, work_dir=work_dir)
