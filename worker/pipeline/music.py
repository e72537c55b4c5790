"""The music stage: which stored song, if any, plays under the voice."""

from __future__ import annotations

import random
from pathlib import Path

from app.domain import SONG_NAME_PATTERN
from worker.errors import PipelineError

STAGE = "music"


def choose_song(
    songs_dir: Path | None, *, requested: str | None, use_music: bool, seed: str
) -> Path | None:
    """The requested song (it must exist), else a seeded random one when music is on, else None.

    None with music on means the folder holds no song: the caller logs a warning and goes on.
    """
    if requested:
        return _requested_song(songs_dir, requested)
    if not use_music:
        return None
    songs = stored_songs(songs_dir)
    if not songs:
        return None
    # A string seed is hashed stably by `random` (unlike `hash()`), so a retry picks the same song.
    return random.Random(seed).choice(songs)


def stored_songs(songs_dir: Path | None) -> list[Path]:
    """The folder's songs, sorted so that a seeded choice does not depend on directory order."""
    if songs_dir is None or not songs_dir.is_dir():
        return []
    return sorted(
        path
        for path in songs_dir.glob("*.mp3")
        if SONG_NAME_PATTERN.fullmatch(path.name) and path.is_file()
    )


def _requested_song(songs_dir: Path | None, name: str) -> Path:
    # The name pattern has no "/" and no leading ".", so the path cannot leave the folder.
    if songs_dir is not None and SONG_NAME_PATTERN.fullmatch(name):
        path = songs_dir / name
        if path.is_file():
            return path
    # Permanent: the song was deleted (or never uploaded); retrying will not bring it back.
    raise PipelineError(f"Song not found: {name}", retryable=False, stage=STAGE)
