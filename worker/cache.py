"""The host's cache of work any job may reuse: a sentence spoken in a voice, a clip downloaded.

Entries live under `<data>/cache/<kind>/` named by a key of everything that made them (the
engine, its voice and settings, the text; the source, the clip, the rendition), so an entry is
never stale: different inputs are a different name. A job takes an entry by a hard link into its
work folder (a copy across file systems), so the pruner may delete the cache's name while a
render still reads the job's. Each use touches the entry; `prune` deletes the entries unused
longest first until the cache fits its size, and any unused for longer than the retention age.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TEMPORARY_AGE_S = 3600.0  # a temporary file this old is a dead writer's


def cache_key(*parts: Any) -> str:
    """A hex digest of `parts` as canonical JSON (paths and other objects by their str)."""
    encoded = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def place(source: Path, destination: Path) -> Path:
    """`destination` holding `source`'s bytes: a hard link where one can be made, else a copy
    (through a temporary name, so a reader never sees half a file)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            os.link(source, temporary)
        except OSError:  # another file system, or links refused: a copy
            shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def write_replacing(path: Path, text: str) -> None:
    """`path` holding `text`, written under a temporary name and moved into place: a reader sees
    the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True)
class FileCache:
    """Files kept by key under `root` (`root/<kind>/<key><suffix>`)."""

    root: Path

    def path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def take(self, kind: str, key: str, suffix: str, destination: Path) -> Path | None:
        """The entry placed at `destination` (and touched), or None when there is none."""
        cached = self.path(kind, key, suffix)
        try:
            placed = place(cached, destination)
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(cached)
        return placed

    def keep(self, kind: str, key: str, suffix: str, source: Path) -> None:
        """Keep `source` as the entry; a cache that cannot be written is only logged (the job
        has its file, the next one does the work again)."""
        try:
            place(source, self.path(kind, key, suffix))
        except OSError as exc:
            logger.warning("cache: could not keep %s: %s", source.name, exc)

    def read_json(self, kind: str, key: str) -> Any | None:
        path = self.path(kind, key, ".json")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return document

    def write_json(self, kind: str, key: str, document: Any) -> None:
        path = self.path(kind, key, ".json")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_replacing(path, json.dumps(document))
        except OSError as exc:
            logger.warning("cache: could not keep %s: %s", path.name, exc)


def prune(root: Path, *, max_bytes: int, max_age_s: float, now: float | None = None) -> int:
    """Delete entries unused for `max_age_s` (0: no age limit), then the least recently used
    until the cache holds at most `max_bytes`. Returns how many files went. Temporary files of a
    writer that died are swept once they are TEMPORARY_AGE_S old."""
    now = time.time() if now is None else now
    entries: list[tuple[float, int, Path]] = []
    for kind in _folders(root):
        with os.scandir(kind) as found:
            for entry in found:
                with contextlib.suppress(FileNotFoundError):
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    stat = entry.stat(follow_symlinks=False)
                    if entry.name.startswith(".") and now - stat.st_mtime <= TEMPORARY_AGE_S:
                        continue  # being written: not an entry yet
                    entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    entries.sort()  # least recently used first
    total = sum(size for _, size, _ in entries)
    removed = 0
    for used_at, size, path in entries:
        stale = path.name.startswith(".")  # a dead writer's
        expired = max_age_s > 0 and now - used_at > max_age_s
        if not (stale or expired or total > max_bytes):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
        total -= size
    if removed:
        logger.info("cache: removed %d file(s) from %s", removed, root)
    return removed


def _folders(root: Path) -> list[Path]:
    try:
        return [Path(entry.path) for entry in os.scandir(root) if entry.is_dir()]
    except FileNotFoundError:
        return []
