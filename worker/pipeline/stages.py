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

import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.cache import place

logger = logging.getLogger(__name__)

KEY_CHARS = 16  # of a key, naming its files' folder


@dataclass(frozen=True)
class StageStore:
    """The records of one job's stages under `root`; None as a root keeps nothing. `on_save` is
    told each stage recorded (the worker copies it to the bucket, for a worker elsewhere)."""

    root: Path | None
    on_save: Callable[[str], None] | None = None

    def load(self, stage: str, key: str, work_dir: Path) -> dict[str, Any] | None:
        """The outcome recorded for `stage` under `key`, its files placed in `work_dir` at the
        paths they had; None when there is no such record or a file of it is gone."""
        if self.root is None:
            return None
        try:
            record = json.loads((self.root / f"{stage}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        folder = self.root / stage / key[:KEY_CHARS]
        try:
            for name in record["files"]:
                place(folder / name, work_dir / name)
        except (OSError, KeyError, TypeError):
            return None
        outcome = record.get("outcome")
        return outcome if isinstance(outcome, dict) else None

    def save(
        self, stage: str, key: str, outcome: dict[str, Any], *, work_dir: Path,
        files: tuple[Path, ...] = (),
    ) -> None:  # fmt: skip
        """Record `stage`'s `outcome` (JSON) under `key`, with `files` (in `work_dir`). A store
        that cannot be written costs a later attempt the work, never this one its result."""
        if self.root is None:
            return
        names = [path.relative_to(work_dir).as_posix() for path in files]
        record = self.root / f"{stage}.json"
        folder = self.root / stage / key[:KEY_CHARS]
        temporary = record.with_name(f".{record.name}.{uuid.uuid4().hex}.tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                place(work_dir / name, folder / name)
            temporary.write_text(
                json.dumps({"key": key, "outcome": outcome, "files": names}), encoding="utf-8"
            )
            os.replace(temporary, record)
            for other in folder.parent.iterdir():  # an older key's files: never read again
                if other != folder:
                    shutil.rmtree(other, ignore_errors=True)
        except OSError as exc:
            logger.warning("stages: could not record %s: %s", stage, exc)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return
        if self.on_save is not None:
            self.on_save(stage)
