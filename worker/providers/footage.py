"""Footage providers: the Protocol, what a candidate clip is, and a local media folder (generated
backgrounds are in backgrounds.py, stock sites in stock.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from app.media import (
    FOOTAGE_CONTAINERS,
    STILL_CONTAINER_NAMES,
    STILL_CONTAINERS,
    VIDEO_CONTAINER_NAMES,
    Clip,
    MediaFacts,
    file_description,
    find_ffprobe,
    read_facts,
    sniff_container,
)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv"})
STILL_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
STOP_WORDS = frozenset({"a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to", "with"})


Warn = Callable[[str], None]  # a warning for the job's log


@dataclass(frozen=True)
class Scene:
    index: int
    term: str  # what the sources are searched for
    duration_s: float
    text: str = ""  # the narration the clip plays under: what the ranking matches


@dataclass(frozen=True)
class Candidate:
    """A clip a source offers, known by what the source says of it. A local file's duration and
    size are 0 until `FootageProvider.probe` has read them; a stock clip's are the rendition
    that would be downloaded."""

    source: str  # the provider's name
    clip_id: str  # the source's id for the clip: a stock id, a local path below the folder
    description: str  # the source's words for it: page slug, tags, file name, sidecar
    duration_s: float = 0.0
    width_px: int = 0
    height_px: int = 0
    page_url: str = ""  # where the clip, its author and its licence are shown
    author: str = ""
    thumbnail_url: str = ""  # a still of it and a small rendition to play, to look it over
    preview_url: str = ""
    download_url: str = ""  # a stock clip's rendition to download (what `fetch` gets)

    @property
    def key(self) -> str:
        """Unique across sources: what a video, and the recent videos, must not repeat."""
        return f"{self.source}:{self.clip_id}"

    @property
    def probed(self) -> bool:
        return self.duration_s > 0 and self.width_px > 0 and self.height_px > 0


class FootageProvider(Protocol):
    """A source of clips: `candidates` lists what it offers for a scene (raising ProviderError
    when its service fails), `probe` completes a candidate's facts (None: unplayable), `fetch`
    makes the chosen one a clip in the work folder (None: it turned out not to be a video)."""

    name: str

    def candidates(self, scene: Scene) -> list[Candidate]: ...

    def probe(self, candidate: Candidate) -> Candidate | None: ...

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None: ...


def words(text: str) -> set[str]:
    """Lower-case words without stop words, plurals folded ("Ocean_Waves" → {"ocean", "wave"})."""
    found = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return found


def sidecar_text(video: Path) -> str:
    """The description file `<name>.txt` (or `<name>.mp4.txt`): free text or tags."""
    for sidecar in (video.with_suffix(".txt"), video.with_name(video.name + ".txt")):
        if sidecar.is_file():
            return " ".join(sidecar.read_text("utf-8", "replace").split())
    return ""


class LocalFootage:
    """Videos and stills in a folder (and below), described by their names and sidecar files. A
    still plays for its whole scene, the render moving slowly over it (a Ken Burns move)."""

    name = "local"

    def __init__(self, media_dir: Path, *, ffmpeg_exe: str, warn: Warn) -> None:
        self._media_dir = media_dir
        self._ffmpeg_exe = ffmpeg_exe
        self._warn = warn
        self._ffprobe_exe = find_ffprobe(ffmpeg_exe)
        self._probed: dict[str, MediaFacts | None] = {}  # None: neither a video nor a still
        self._files = [
            path
            for path in sorted(media_dir.rglob("*"))
            if path.suffix.lower() in VIDEO_SUFFIXES | STILL_SUFFIXES and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(media_dir).parts)
        ]  # fmt: skip
        self._offered = [
            Candidate(
                self.name,
                path.relative_to(media_dir).as_posix(),
                file_description(path.name, sidecar_text(path)),
            )
            for path in self._files
        ]

    @property
    def has_videos(self) -> bool:
        return bool(self._files)

    def candidates(self, scene: Scene) -> list[Candidate]:
        """Every file not known to be unplayable: the folder is not searched, the ranking reads
        all of it."""
        return [c for c in self._offered if self._probed.get(c.clip_id, True) is not None]

    def probe(self, candidate: Candidate) -> Candidate | None:
        if candidate.clip_id not in self._probed:
            self._probed[candidate.clip_id] = self._facts(self._media_dir / candidate.clip_id)
        facts = self._probed[candidate.clip_id]
        if facts is None:
            return None
        return replace(
            candidate, duration_s=facts.duration_s, width_px=facts.width_px,
            height_px=facts.height_px,
        )  # fmt: skip

    def fetch(self, candidate: Candidate, scene: Scene, *, work_dir: Path) -> Clip | None:
        facts = self._probed.get(candidate.clip_id)
        if facts is None:
            return None
        duration_s = facts.duration_s
        if facts.container in STILL_CONTAINERS:
            duration_s = scene.duration_s  # a still lasts its scene
        return Clip(
            source=self.name, term=scene.term, duration_s=duration_s, width_px=facts.width_px,
            height_px=facts.height_px, path=(self._media_dir / candidate.clip_id).resolve(),
            container=facts.container, orientation=facts.orientation,
        )  # fmt: skip

    def _facts(self, path: Path) -> MediaFacts | None:
        """The file's facts (app/media.py's `read_facts`); None, with a warning, for a file that
        is neither a video nor a still by its bytes."""
        container = sniff_container(path)
        if container is None or container not in FOOTAGE_CONTAINERS:
            what = (
                f"a {STILL_CONTAINER_NAMES} picture" if path.suffix.lower() in STILL_SUFFIXES
                else f"an {VIDEO_CONTAINER_NAMES} video"
            )  # fmt: skip
            self._warn(f"local: {path.name} is not {what}; skipped")
            return None
        return read_facts(
            path, container, ffmpeg_exe=self._ffmpeg_exe, ffprobe_exe=self._ffprobe_exe
        )
