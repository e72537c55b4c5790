"""The music stage: which stored song, if any, plays under the voice."""

from __future__ import annotations

import random
from pathlib import Path

from app.errors import NotFound
from app.songs import SongLibrary
from worker.errors import PipelineError

STAGE = "music"


def choose_song(
    library: SongLibrary | None,
    *,
    requested: str | None,
    use_music: bool,
    seed: str,
    work_dir: Path,
) -> Path | None:
    """A file of the requested song (it must exist), else of a seeded random one when music is
    on, else None. A song in the bucket is copied into `work_dir` first.

    None with music on means the library holds no song: the caller logs a warning and goes on.
    Only what the library lists counts as a song: never a symbolic link, nor a file that
    resolves outside the folder.
    """
    names = library.names() if library is not None and use_music and not requested else []
    name = song_name(names, requested=requested, use_music=use_music, seed=seed)
    return None if name is None else _requested_song(library, name, work_dir)


def song_name(names: list[str], *, requested: str | None, use_music: bool, seed: str) -> str | None:
    """The song to play: the requested one, else a seeded random one of `names` when music is
    on, else None. The same seed picks the same song, so a retry plays what the first try did."""
    if requested:
        return requested
    if not use_music or not names:
        return None
    # A string seed is hashed stably by `random` (unlike `hash()`); sorted, so that the choice
    # does not depend on listing order.
    return random.Random(seed).choice(sorted(names))


def _requested_song(library: SongLibrary | None, name: str, work_dir: Path) -> Path:
    try:
        if library is None:
            raise NotFound(f"Song not found: {name}")
        return library.local_copy(name, work_dir)
    except NotFound:
        # Permanent: the song was deleted (or never uploaded); retrying will not bring it back.
        raise PipelineError(f"Song not found: {name}", retryable=False, stage=STAGE) from None
