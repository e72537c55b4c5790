"""The music stage: which stored song, if any, plays under the voice."""

from __future__ import annotations

import random
from pathlib import Path

from app.songs import stored_song, stored_songs
from worker.errors import PipelineError

STAGE = "music"


def choose_song(
    songs_dir: Path | None, *, requested: str | None, use_music: bool, seed: str
) -> Path | None:
    """The requested song (it must exist), else a seeded random one when music is on, else None.

    None with music on means the folder holds no song: the caller logs a warning and goes on.
    Only what the library lists counts as a song: never a symbolic link, nor a file that
    resolves outside the folder.
    """
    if requested:
        return _requested_song(songs_dir, requested)
    if not use_music or songs_dir is None:
        return None
    # Sorted by name, so that a seeded choice does not depend on directory order.
    songs = stored_songs(songs_dir)
    if not songs:
        return None
    # A string seed is hashed stably by `random` (unlike `hash()`), so a retry picks the same song.
    return random.Random(seed).choice(songs)


def _requested_song(songs_dir: Path | None, name: str) -> Path:
    path = stored_song(songs_dir, name) if songs_dir is not None else None
    if path is None:
        # Permanent: the song was deleted (or never uploaded); retrying will not bring it back.
        raise PipelineError(f"Song not found: {name}", retryable=False, stage=STAGE)
    return path
