"""The footage stage: one clip per scene, from stock sites, a local folder, or generated."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app import clip_uploads
from app.media import Clip
from worker.cache import FileCache
from worker.errors import PipelineError, ProviderError
from worker.options import FootageOptions
from worker.pipeline.match import (
    CONTENDERS,
    LOCAL_MIN_RELEVANCE,
    ModelRelevance,
    Ranked,
    Relevance,
    ReportLog,
    palette_for,
    rank,
    scene_query,
)
from worker.providers.backgrounds import GeneratedFootage
from worker.providers.footage import (
    Candidate,
    FootageProvider,
    LocalFootage,
    Scene,
    Warn,
)
from worker.providers.http import Sleep
from worker.providers.stock import PexelsFootage, PixabayFootage

STAGE = "footage"
SOURCES = ("auto", "pexels", "pixabay", "local", "generated")
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
ALTERNATIVES = 8  # candidates kept beside a scene's choice, for a review to swap in
STOCK_SITES = ("pexels", "pixabay")
UPLOADED = clip_uploads.SOURCE
KEY_SETTINGS = {"pexels": "PEXELS_API_KEY", "pixabay": "MONEYPRINTER_PIXABAY_API_KEY"}


@dataclass(frozen=True)
class Pick:
    """A scene's clip and why: the candidate it came from (None for a generated background)."""

    scene: Scene
    clip: Clip
    chosen: Ranked | None = None
    considered: int = 0  # candidates found for the scene
    alternatives: tuple[Candidate, ...] = ()  # the next best, best first: a reviewer's choice

    def credit(self) -> dict[str, object]:
        """The scene's entry in footage.json: what plays, from where, by whom."""
        entry: dict[str, object] = {
            "scene": self.scene.index + 1, "text": self.scene.text, "term": self.scene.term,
            "source": self.clip.source, "candidates": self.considered,
        }  # fmt: skip
        if self.chosen is not None:
            candidate = self.chosen.candidate
            entry |= {
                "id": candidate.clip_id, "description": candidate.description,
                "pageUrl": candidate.page_url, "author": candidate.author,
                "relevance": round(self.chosen.relevance, 4), "upscaled": self.chosen.upscaled,
                "widthPx": candidate.width_px, "heightPx": candidate.height_px,
            }  # fmt: skip
        return entry


def pick_record(pick: Pick, *, work_dir: Path) -> dict[str, Any]:
    """A pick as JSON for the job's stage record; a file in the work folder by its path there."""
    clip = dataclasses.asdict(pick.clip)
    if pick.clip.path is not None:
        inside = pick.clip.path.is_relative_to(work_dir)
        clip["path"] = (
            pick.clip.path.relative_to(work_dir) if inside else pick.clip.path
        ).as_posix()
    chosen = None if pick.chosen is None else dataclasses.asdict(pick.chosen)
    return {
        "scene": dataclasses.asdict(pick.scene), "clip": clip, "chosen": chosen,
        "considered": pick.considered,
        "alternatives": [dataclasses.asdict(other) for other in pick.alternatives],
    }  # fmt: skip


def pick_from_record(record: dict[str, Any], *, work_dir: Path) -> Pick | None:
    """The pick `pick_record` wrote; None when its file is gone (a local one deleted since)."""
    clip = dict(record["clip"])
    if clip["path"] is not None:
        clip["path"] = work_dir / clip["path"]  # an absolute path stays itself
        if not clip["path"].is_file():
            return None
    chosen = record["chosen"]
    if chosen is not None:
        chosen = Ranked(**{**chosen, "candidate": Candidate(**chosen["candidate"])})
    alternatives = tuple(Candidate(**other) for other in record.get("alternatives", ()))
    return Pick(Scene(**record["scene"]), Clip(**clip), chosen, record["considered"], alternatives)


def write_credits(picks: list[Pick], path: Path) -> Path:
    """footage.json: each scene's clip, its source, page and author (stock licences ask for
    none, but a viewer or a reviewer may)."""
    path.write_text(json.dumps({"scenes": [pick.credit() for pick in picks]}, indent=2), "utf-8")
    return path


def gather_footage(
    scenes: list[Scene],
    *,
    source: str,
    options: FootageOptions,
    ffmpeg_exe: str,
    width_px: int,
    height_px: int,
    work_dir: Path,
    subject: str,
    report: ReportLog,
    recent: frozenset[str] = frozenset(),
    relevance: Relevance | None = None,
    sleep: Sleep = time.sleep,
    cache: FileCache | None = None,
    failures: list[str] | None = None,
) -> list[Pick]:
    """One clip per scene, in order, the best of every configured source's candidates for it
    (worker/pipeline/match.py), never one clip twice. `auto` asks Pexels, Pixabay and the local
    folder, warning about a source that fails and asking it no more; an explicit stock source
    fails the job when its requests fail. A scene nothing is found for gets a generated
    background in a palette chosen for the `subject`. `recent`: keys of clips used by recent
    videos of the same subject or account. A stock clip in the `cache` is not downloaded again.
    `failures` collects what failed on the way (a source, a download): the picks are then not
    what the sources would give another time."""
    if source not in SOURCES:
        raise PipelineError(f"unknown footage source {source!r}", retryable=False, stage=STAGE)
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        chain = _providers(
            source, options=options, http=http, ffmpeg_exe=ffmpeg_exe, width_px=width_px,
            height_px=height_px, sleep=sleep, report=report, cache=cache,
        )  # fmt: skip
        relevance = relevance or ModelRelevance()
        chooser = Chooser(
            chain, strict=source != "auto", size_px=(width_px, height_px), recent=recent,
            relevance=relevance, report=report, failures=failures,
        )  # fmt: skip
        fallback: GeneratedFootage | None = None  # its palette is chosen only when needed
        picks = []
        for scene in scenes:
            pick = chooser.pick(scene, work_dir=work_dir)
            if pick is None:
                fallback = fallback or GeneratedFootage(
                    palette_for(subject, relevance, report=report), seed=subject,
                    width_px=width_px, height_px=height_px,
                )  # fmt: skip
                pick = Pick(scene, fallback.find(scene, work_dir=work_dir))
            picks.append(pick)
        return picks


def _providers(
    source: str, *, options: FootageOptions, http: httpx.Client, ffmpeg_exe: str,
    width_px: int, height_px: int, sleep: Sleep, report: ReportLog, cache: FileCache | None,
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

    chain: list[FootageProvider] = [
        _stock_site(name, options=options, http=http, size_px=(width_px, height_px), warn=warn,
                    sleep=sleep, cache=cache)
        for name in STOCK_SITES
        if source in ("auto", name) and keys[name]
    ]  # fmt: skip
    if source in ("auto", "local"):
        local = _local(options.media_dir, ffmpeg_exe=ffmpeg_exe, warn=warn)
        if local is not None:
            chain.append(local)
        elif source == "local":
            report("warning", f"the media folder {options.media_dir} has no videos")
    return chain


def _stock_site(
    name: str, *, options: FootageOptions, http: httpx.Client, size_px: tuple[int, int],
    warn: Warn, sleep: Sleep, cache: FileCache | None,
) -> FootageProvider:  # fmt: skip
    site, base_url, api_key = {
        "pexels": (PexelsFootage, options.pexels_base_url, options.pexels_api_key),
        "pixabay": (PixabayFootage, options.pixabay_base_url, options.pixabay_api_key),
    }[name]
    return site(
        api_key=api_key or "", base_url=base_url, http=http, width_px=size_px[0],
        height_px=size_px[1], max_download_bytes=options.max_download_bytes, warn=warn,
        sleep=sleep, cache=cache,
    )  # fmt: skip


def fetch_chosen(
    scenes: list[Scene],
    chosen: list[Candidate | None],
    *,
    options: FootageOptions,
    ffmpeg_exe: str,
    width_px: int,
    height_px: int,
    work_dir: Path,
    subject: str,
    report: ReportLog,
    cache: FileCache | None = None,
    sleep: Sleep = time.sleep,
    uploads_dir: Path | None = None,
) -> list[Pick]:
    """The clips a reviewer chose, one per scene (None: a generated background): nothing is
    searched for. A clip the reviewer uploaded is in `uploads_dir` (app/clip_uploads.py). A
    chosen clip that cannot be had any more fails the job, naming its scene."""

    def warn(message: str) -> None:
        report("warning", message)

    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        providers: dict[str, FootageProvider | None] = {}
        fallback: GeneratedFootage | None = None
        picks = []
        for scene, candidate in zip(scenes, chosen, strict=True):
            if candidate is None:
                fallback = fallback or GeneratedFootage(
                    palette_for(subject, ModelRelevance(), report=report), seed=subject,
                    width_px=width_px, height_px=height_px,
                )  # fmt: skip
                picks.append(Pick(scene, fallback.find(scene, work_dir=work_dir)))
                continue
            name = candidate.source.lower()
            if name not in providers:
                providers[name] = _chosen_source(
                    name, options=options, http=http, size_px=(width_px, height_px), warn=warn,
                    sleep=sleep, cache=cache, ffmpeg_exe=ffmpeg_exe, uploads_dir=uploads_dir,
                )  # fmt: skip
            provider = providers[name]
            probed = provider.probe(candidate) if provider is not None else None
            clip = provider.fetch(probed, scene, work_dir=work_dir) if provider and probed else None
            if clip is None:
                raise PipelineError(
                    f"Scene {scene.index + 1}: the clip {candidate.key} chosen for it cannot be "
                    "had any more; choose another in the storyboard (POST /api/jobs/{id}/review "
                    "opens it again)",
                    retryable=False, stage=STAGE,
                )  # fmt: skip
            clip = dataclasses.replace(clip, source=candidate.source)  # an upload says so
            upscaled = candidate.width_px < width_px or candidate.height_px < height_px
            ranked = Ranked(candidate, relevance=0.0, score=0.0, upscaled=upscaled, recent=False)
            picks.append(Pick(scene, clip, ranked, 1))
        return picks


def _chosen_source(
    name: str, *, options: FootageOptions, http: httpx.Client, size_px: tuple[int, int],
    warn: Warn, sleep: Sleep, cache: FileCache | None, ffmpeg_exe: str, uploads_dir: Path | None,
) -> FootageProvider | None:  # fmt: skip
    """The provider a reviewer's clip of source `name` is fetched from; None when this host has
    none (a media folder or an uploads folder it lacks)."""
    if name in STOCK_SITES:
        return _stock_site(
            name, options=options, http=http, size_px=size_px, warn=warn, sleep=sleep, cache=cache
        )
    folder = {LocalFootage.name: options.media_dir, UPLOADED: uploads_dir}.get(name)
    return None if folder is None else LocalFootage(folder, ffmpeg_exe=ffmpeg_exe, warn=warn)


def _local(media_dir: Path | None, *, ffmpeg_exe: str, warn: Warn) -> LocalFootage | None:
    if media_dir is None or not media_dir.is_dir():
        return None
    local = LocalFootage(media_dir, ffmpeg_exe=ffmpeg_exe, warn=warn)
    return local if local.has_videos else None


class Chooser:
    """Picks each scene's clip for one video, remembering what it used."""

    def __init__(
        self, chain: list[FootageProvider], *, strict: bool, size_px: tuple[int, int],
        recent: frozenset[str], relevance: Relevance, report: ReportLog,
        failures: list[str] | None = None,
    ) -> None:  # fmt: skip
        self._chain = chain
        self._failures = [] if failures is None else failures
        self._strict = strict
        self._width_px, self._height_px = size_px
        self._recent = recent
        self._relevance = relevance
        self._report = report
        self._used: set[str] = set()
        self._rejected: set[str] = set()

    def pick(self, scene: Scene, *, work_dir: Path) -> Pick | None:
        found = self._candidates(scene)
        if not found:
            return None
        ranked = self._rank(scene, found)
        providers = {provider.name: provider for provider in self._chain}
        for choice in ranked:
            candidate = choice.candidate
            try:
                clip = providers[candidate.source].fetch(candidate, scene, work_dir=work_dir)
            except ProviderError as exc:
                if self._strict:
                    raise
                self._report("warning", f"{exc.message}; the next clip is tried")
                self._failures.append(exc.message)
                clip = None
            if clip is None:  # not a video after all, or its download failed: never again
                self._rejected.add(candidate.key)
                continue
            self._used.add(candidate.key)
            self._announce(scene, choice, ranked)
            others = tuple(r.candidate for r in ranked if r is not choice)
            return Pick(scene, clip, choice, len(found), others[:ALTERNATIVES])
        self._report("warning", f"No footage for '{scene.term}' could be used: generated.")
        return None

    def _candidates(self, scene: Scene) -> list[Candidate]:
        """Every source's unused candidates; in auto mode a failed source leaves the chain for
        good (a refused key or a rate limit will not clear up within one video)."""
        if not scene.term.strip() or not self._chain:
            return []
        found: list[Candidate] = []
        for provider in list(self._chain):
            try:
                offered = provider.candidates(scene)
            except ProviderError as exc:
                if self._strict:
                    raise
                self._chain.remove(provider)
                self._report("warning", f"{exc.message}; not asked again for this video")
                self._failures.append(exc.message)
                continue
            found += [c for c in offered if c.key not in self._used | self._rejected]
        if not found:
            sources = ", ".join(provider.name for provider in self._chain) or "no source"
            self._report("warning", f"{sources}: nothing for '{scene.term}', generated instead")
        return found

    def _rank(self, scene: Scene, found: list[Candidate]) -> list[Ranked]:
        """The contenders, best first: the best-fitting candidates by their words (those of no
        recent video while any of them is left), probed, then weighed with the frame's rules."""
        query = scene_query(scene.text, scene.term)
        fits = self._relevance(query, [candidate.description for candidate in found])
        by_fit = sorted(zip(found, fits, strict=True), key=lambda pair: -pair[1])
        fresh = [pair for pair in by_fit if pair[0].key not in self._recent]
        seen = [pair for pair in by_fit if pair[0].key in self._recent]
        contenders = self._probed(fresh) or self._probed(seen)
        return rank(
            [candidate for candidate, _ in contenders], [fit for _, fit in contenders],
            width_px=self._width_px, height_px=self._height_px, duration_s=scene.duration_s,
            recent=self._recent,
        )  # fmt: skip

    def _probed(self, by_fit: list[tuple[Candidate, float]]) -> list[tuple[Candidate, float]]:
        """Up to CONTENDERS of them with their facts read: a local file that says nothing of the
        scene, and a clip of no known length or size, are passed over."""
        providers = {provider.name: provider for provider in self._chain}
        contenders: list[tuple[Candidate, float]] = []
        for candidate, fit in by_fit:
            if candidate.source == LocalFootage.name and fit < LOCAL_MIN_RELEVANCE:
                continue
            probed = providers[candidate.source].probe(candidate)
            if probed is None or not probed.probed:
                self._rejected.add(candidate.key)
                continue
            contenders.append((probed, fit))
            if len(contenders) == CONTENDERS:
                break
        return contenders

    def _announce(self, scene: Scene, choice: Ranked, ranked: list[Ranked]) -> None:
        self._report("info", f"Scene {scene.index + 1}: {choice.describe()}.")
        if choice.recent:
            self._report(
                "warning",
                f"Scene {scene.index + 1}: every clip found for '{scene.term}' was used in a "
                "recent video of this subject or account; reusing one",
            )
        if choice.upscaled:
            sharp = "a sharper one fitted worse" if any(not r.upscaled for r in ranked) else (
                "no clip found is that large"
            )  # fmt: skip
            self._report(
                "warning",
                f"Scene {scene.index + 1}: the clip is {choice.candidate.width_px}x"
                f"{choice.candidate.height_px}, smaller than the {self._width_px}x"
                f"{self._height_px} frame, and will be upscaled ({sharp})",
            )
