"""Running ffmpeg: starting it, reading its failures, and writing names into its filtergraphs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import IO

from worker.errors import PipelineError

STAGE = "render"
LOG_TAIL_CHARS = 1500


def filter_value(text: str) -> str:
    """Escape a filter option's value inside a filtergraph: once for the option parser, once more
    for the graph parser (ffmpeg-filters(1), "Notes on filtergraph escaping")."""
    option_level = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def start_ffmpeg(
    command: list[str],
    work_dir: Path,
    *,
    stdout: int | IO[bytes],
    stderr: int | IO[bytes],
    stdin: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(command, cwd=work_dir, stdin=stdin, stdout=stdout, stderr=stderr)
    except OSError as exc:
        raise PipelineError(
            f"ffmpeg could not start ({command[0]}): {exc}", retryable=False, stage=STAGE
        ) from exc


def ffmpeg_error(returncode: int, log: str) -> PipelineError:
    if returncode < 0:
        # Killed by a signal (out of memory, an operator): nothing about the input is wrong.
        return PipelineError(
            f"ffmpeg was killed by signal {-returncode}", retryable=True, stage=STAGE
        )
    # ffmpeg's errors on the same input repeat: a deterministic failure is permanent.
    tail = log.strip()[-LOG_TAIL_CHARS:]
    return PipelineError(
        f"ffmpeg failed (exit code {returncode}): {tail or 'no output'}",
        retryable=False,
        stage=STAGE,
    )
