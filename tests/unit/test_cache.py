"""The host's cache (worker/cache.py) and a job's stage records (worker/pipeline/stages.py)."""

from __future__ import annotations

import os
from pathlib import Path

from worker.cache import FileCache, cache_key, prune
from worker.pipeline.stages import StageStore


def test_keys_change_with_any_part_and_not_with_dict_order() -> None:
    assert cache_key("voice", {"a": 1, "b": 2}) == cache_key("voice", {"b": 2, "a": 1})
    assert cache_key("voice", "Hello.") != cache_key("voice", "Hello!")
    assert cache_key(Path("/x")) == cache_key("/x")


def test_an_entry_is_taken_by_a_link_that_outlives_the_cache_entry(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache")
    source = tmp_path / "made.wav"
    source.write_bytes(b"RIFF sentence")

    assert cache.take("voice", "k1", ".wav", tmp_path / "job" / "a.wav") is None
    cache.keep("voice", "k1", ".wav", source)
    taken = cache.take("voice", "k1", ".wav", tmp_path / "job" / "a.wav")

    assert taken is not None and taken.read_bytes() == b"RIFF sentence"
    assert os.path.samefile(taken, cache.path("voice", "k1", ".wav"))  # a link, not a copy
    cache.path("voice", "k1", ".wav").unlink()  # pruned while a job reads it
    assert taken.read_bytes() == b"RIFF sentence"


def test_json_entries_round_trip_and_a_broken_one_is_a_miss(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    cache.write_json("voice", "k", {"words": [[0, 5, 0.1]]})
    assert cache.read_json("voice", "k") == {"words": [[0, 5, 0.1]]}
    cache.path("voice", "k", ".json").write_text("{not json", encoding="utf-8")
    assert cache.read_json("voice", "k") is None


def _entry(root: Path, name: str, size: int, used_at: float) -> Path:
    path = root / "footage" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used_at, used_at))
    return path


def test_prune_removes_the_expired_then_the_least_recently_used(tmp_path: Path) -> None:
    now = 1_000_000.0
    expired = _entry(tmp_path, "expired.mp4", 10, now - 40 * 86_400)
    oldest = _entry(tmp_path, "oldest.mp4", 100, now - 3_000)
    older = _entry(tmp_path, "older.mp4", 100, now - 2_000)
    newest = _entry(tmp_path, "newest.mp4", 100, now - 1_000)
    writing = _entry(tmp_path, ".newest.mp4.1234.tmp", 100, now - 10)
    dead = _entry(tmp_path, ".gone.mp4.5678.tmp", 5, now - 7_200)

    removed = prune(tmp_path, max_bytes=250, max_age_s=30 * 86_400, now=now)

    assert removed == 3
    assert not expired.exists() and not dead.exists() and not oldest.exists()
    assert older.exists() and newest.exists() and writing.exists()


def test_prune_without_a_cache_folder_does_nothing(tmp_path: Path) -> None:
    assert prune(tmp_path / "none", max_bytes=0, max_age_s=0) == 0


def test_a_stage_record_gives_its_outcome_and_files_back_only_for_the_same_key(
    tmp_path: Path,
) -> None:
    stages = StageStore(tmp_path / "stages")
    first, second = tmp_path / "1", tmp_path / "2"
    (first / "footage").mkdir(parents=True)
    (first / "footage" / "clip.mp4").write_bytes(b"clip")

    stages.save(
        "footage", "key-a", {"picks": [1]}, work_dir=first, files=(first / "footage" / "clip.mp4",)
    )

    assert stages.load("footage", "key-b", second) is None
    assert stages.load("footage", "key-a", second) == {"picks": [1]}
    assert (second / "footage" / "clip.mp4").read_bytes() == b"clip"


def test_a_record_whose_file_is_gone_is_no_record(tmp_path: Path) -> None:
    stages = StageStore(tmp_path / "stages")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "video.mp4").write_bytes(b"mp4")
    stages.save("render", "k", {}, work_dir=tmp_path / "1", files=(tmp_path / "1" / "video.mp4",))
    (tmp_path / "stages" / "render" / "k" / "video.mp4").unlink()

    assert stages.load("render", "k", tmp_path / "2") is None


def test_a_new_record_replaces_the_old_and_no_root_keeps_nothing(tmp_path: Path) -> None:
    stages = StageStore(tmp_path / "stages")
    (tmp_path / "script.txt").write_text("old", encoding="utf-8")
    stages.save("script", "old", {"n": 1}, work_dir=tmp_path, files=(tmp_path / "script.txt",))
    (tmp_path / "script.txt").unlink()  # a new file, not the old one rewritten
    (tmp_path / "script.txt").write_text("new", encoding="utf-8")
    stages.save("script", "new", {"n": 2}, work_dir=tmp_path, files=(tmp_path / "script.txt",))

    assert stages.load("script", "old", tmp_path / "a") is None
    assert stages.load("script", "new", tmp_path / "b") == {"n": 2}
    assert (tmp_path / "b" / "script.txt").read_text(encoding="utf-8") == "new"
    assert [path.name for path in (tmp_path / "stages" / "script").iterdir()] == ["new"]

    StageStore(None).save("script", "k", {}, work_dir=tmp_path)
    assert StageStore(None).load("script", "k", tmp_path) is None
