"""Choosing the song: the requested one, a seeded random one, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.songs import FolderSongs
from worker.errors import PipelineError
from worker.pipeline.music import choose_song


@pytest.fixture
def songs_dir(tmp_path: Path) -> Path:
    for name in ("calm.mp3", "drums.mp3", "piano.mp3", "notes.txt"):
        (tmp_path / name).write_bytes(b"ID3")
    return tmp_path


def test_the_requested_song_is_used(songs_dir: Path) -> None:
    song = choose_song(
        FolderSongs(songs_dir),
        work_dir=songs_dir,
        requested="drums.mp3",
        use_music=False,
        seed="job-1",
    )

    assert song == songs_dir / "drums.mp3"


@pytest.mark.parametrize("name", ["gone.mp3", "../calm.mp3", "notes.txt"])
def test_a_missing_requested_song_fails_permanently_naming_it(songs_dir: Path, name: str) -> None:
    with pytest.raises(PipelineError) as raised:
        choose_song(
            FolderSongs(songs_dir), work_dir=songs_dir, requested=name, use_music=True, seed="job-1"
        )

    assert name in raised.value.message and not raised.value.retryable


def test_music_without_a_request_picks_the_same_song_for_the_same_seed(songs_dir: Path) -> None:
    picks = {
        choose_song(
            FolderSongs(songs_dir), work_dir=songs_dir, requested=None, use_music=True, seed="job-1"
        )
        for _ in range(5)
    }
    by_seed = {
        choose_song(
            FolderSongs(songs_dir),
            work_dir=songs_dir,
            requested=None,
            use_music=True,
            seed=f"job-{i}",
        )
        for i in range(40)
    }

    assert len(picks) == 1
    assert by_seed == {songs_dir / n for n in ("calm.mp3", "drums.mp3", "piano.mp3")}


def test_music_with_no_songs_gives_none(tmp_path: Path) -> None:
    assert (
        choose_song(
            FolderSongs(tmp_path), work_dir=tmp_path, requested=None, use_music=True, seed="s"
        )
        is None
    )
    assert choose_song(None, work_dir=tmp_path, requested=None, use_music=True, seed="s") is None


def test_no_music_gives_none(songs_dir: Path) -> None:
    assert (
        choose_song(
            FolderSongs(songs_dir), work_dir=songs_dir, requested=None, use_music=False, seed="s"
        )
        is None
    )


def test_a_symlink_is_never_mixed_in(
    songs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = tmp_path_factory.mktemp("outside") / "secret.mp3"
    secret.write_bytes(b"ID3 not yours")
    (songs_dir / "linked.mp3").symlink_to(secret)
    (songs_dir / "alias.mp3").symlink_to(songs_dir / "calm.mp3")

    by_seed = {
        choose_song(
            FolderSongs(songs_dir),
            work_dir=songs_dir,
            requested=None,
            use_music=True,
            seed=f"job-{i}",
        )
        for i in range(40)
    }
    for name in ("linked.mp3", "alias.mp3"):
        with pytest.raises(PipelineError) as raised:
            choose_song(
                FolderSongs(songs_dir),
                work_dir=songs_dir,
                requested=name,
                use_music=True,
                seed="job-1",
            )
        assert raised.value.message == f"Song not found: {name}"

    assert by_seed == {songs_dir / n for n in ("calm.mp3", "drums.mp3", "piano.mp3")}
