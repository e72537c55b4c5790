"""A job's finished stages, kept beside its attempts so that a later attempt does not redo them.

`<jobs>/<id>/stages/<stage>.json` records a stage's outcome under a key of its inputs, and
`<jobs>/<id>/stages/<stage>/<key>/` holds its files (hard links of the attempt's, so keeping
them costs no space while the attempt's folder is there). An attempt asks for each stage with the
key of the inputs it has now: the same key gives the recorded outcome, its files placed back in
the attempt's folder; another key (an input changed) or a missing file gives nothing, and the
stage runs. A record is written after its files, through a temporary name, and names its key's
folder: a killed worker leaves either a whole record or none, and two runs of one job at once (a
lost lease's child still finishing) can never pair one's record with the other's files.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from worker.cache import place, write_replacing

logger = logging.getLogger(__name__)

KEY_CHARS = 16  # of a key, naming its files' folder


@dataclass(frozen=True)
class Record:
    """A stage's record as stored (`text`), its key, and its files by their paths below the
    store's root (`voice/<key>/voice.wav`): what a copy elsewhere (the bucket) must carry."""

    text: str
    key: str
    folder: str  # of its files, below the root: `<stage>/<key>`
    files: tuple[str, ...]

    @classmethod
    def parse(cls, stage: str, text: str) -> Record:
        """The record `text` of `stage`; ValueError when it is not one, or names a file outside
        its folder."""
        if not stage.isidentifier():
            raise ValueError(f"not a stage: {stage!r}")
        try:
            document = json.loads(text)
            key, names = str(document["key"]), [str(name) for name in document["files"]]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stage record: {exc}") from None
        if any(".." in PurePosixPath(name).parts or name.startswith("/") for name in names):
            raise ValueError(f"a file of the {stage} record lies outside its folder")
        folder = f"{stage}/{key[:KEY_CHARS]}"
        return cls(text, key, folder, tuple(f"{folder}/{name}" for name in names))


@dataclass(frozen=True)
class StageStore:
    """The records of one job's stages under `root`; None as a root keeps nothing. `on_save` is
    told each stage recorded (the worker copies it to the bucket, for a worker elsewhere)."""

    root: Path | None
    on_save: Callable[[str], None] | None = None

    def load(self, stage: str, key: str, work_dir: Path) -> dict[str, Any] | None:
        """The outcome recorded for `stage` under `key`, its files placed in `work_dir` at the
        paths they had; None when there is no such record or a file of it is gone."""
        record = self.record(stage)
        if self.root is None or record is None or record.key != key:
            return None
        try:
            for path in record.files:
                place(self.root / path, work_dir / path.removeprefix(f"{record.folder}/"))
        except OSError:
            return None
        outcome = json.loads(record.text).get("outcome")
        return outcome if isinstance(outcome, dict) else None

    def record(self, stage: str) -> Record | None:
        """The stage's record as stored, or None when there is none (or it is unreadable)."""
        if self.root is None:
            return None
        try:
            return Record.parse(stage, (self.root / f"{stage}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def save(
        self, stage: str, key: str, outcome: dict[str, Any], *, work_dir: Path,
        files: tuple[Path, ...] = (),
    ) -> None:  # fmt: skip
        """Record `stage`'s `outcome` (JSON) under `key`, with `files` (in `work_dir`). A store
        that cannot be written costs a later attempt the work, never this one its result."""
        if self.root is None:
            return
        names = [path.relative_to(work_dir).as_posix() for path in files]
        folder = self.root / stage / key[:KEY_CHARS]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                place(work_dir / name, folder / name)
            document = {"key": key, "outcome": outcome, "files": names}
            write_replacing(self.root / f"{stage}.json", json.dumps(document))
            for other in folder.parent.iterdir():  # an older key's files: never read again
                if other != folder:
                    shutil.rmtree(other, ignore_errors=True)
        except OSError as exc:
            logger.warning("stages: could not record %s: %s", stage, exc)
            return
        if self.on_save is not None:
            self.on_save(stage)
