"""Running ffmpeg: starting it, reading its failures, and writing names into its filtergraphs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import IO

from worker.errors import PipelineError

STAGE = "render"
LOG_NAME = "ffmpeg.log"  # the full log, in the job's folder; the error message has its gist
GIST_LINES = 3
GIST_CHARS = 300
# ffmpeg's log lines that say what went wrong, as opposed to stream listings and progress.
_FAILURE_WORDS = re.compile(
    r"(?i)error|invalid|unable|cannot|can't|could not|failed|no such|not found|unknown|missing|"
    r"denied|unsupported|does not|mismatch|too (?:many|few)"
)
# What ffmpeg prints after any failure, naming none: the line before them says what went wrong.
_CONSEQUENCE = re.compile(
    r"^(?:Conversion failed!|Error while filtering|Error while processing the decoded data|"
    r"Failed to inject frame|Exiting normally)"
)
_PROGRESS_LINE = re.compile(r"^(?:frame=|size=|out_time|progress=|speed=|bitrate=)")
_CONTEXT_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")  # "[h264 @ 0x55d4c3a2b0]" → "[h264]"
_FILE_PROTOCOL = re.compile(r"\bfile:(?=/)")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/'\":,]+/)*([^\s/'\":,]+)")


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


def ffmpeg_error(returncode: int, log: str, *, work_dir: Path) -> PipelineError:
    """ffmpeg's failure as a short public message: the last lines that say what went wrong, paths
    relative to the job's folder (file names alone outside it). The whole log stays in the
    folder's `ffmpeg.log` (written here when the caller kept it in memory)."""
    log_path = work_dir / LOG_NAME
    if not log_path.exists():
        log_path.write_text(log, encoding="utf-8")
    if returncode < 0:
        # Killed by a signal (out of memory, an operator): nothing about the input is wrong.
        return PipelineError(
            f"ffmpeg was killed by signal {-returncode}", retryable=True, stage=STAGE
        )
    # ffmpeg's errors on the same input repeat: a deterministic failure is permanent.
    return PipelineError(
        f"ffmpeg failed (exit code {returncode}): {log_gist(log, work_dir=work_dir)} "
        f"(full log: {LOG_NAME} in the job's folder)",
        retryable=False,
        stage=STAGE,
    )


def log_gist(log: str, *, work_dir: Path) -> str:
    """The last few distinct lines of an ffmpeg log that name a failure (else its last lines),
    without absolute paths or memory addresses, at most GIST_CHARS long."""
    lines = [_public_line(line, work_dir=work_dir) for line in log.splitlines()]
    lines = [line for line in lines if line and not _PROGRESS_LINE.match(line)]
    failures = [line for line in lines if _FAILURE_WORDS.search(line)]
    causes = [line for line in failures if not _CONSEQUENCE.match(line)]
    chosen = list(dict.fromkeys(causes or failures or lines))[-GIST_LINES:]
    gist = " / ".join(chosen) or "no output"
    return gist if len(gist) <= GIST_CHARS else gist[: GIST_CHARS - 1] + "…"


def _public_line(line: str, *, work_dir: Path) -> str:
    line = _FILE_PROTOCOL.sub("", line)  # inputs are opened as file:/… (media.forced_input)
    for folder in {str(work_dir.resolve()), str(work_dir.absolute())}:
        line = line.replace(folder + "/", "").replace(folder, ".")
    line = _CONTEXT_ADDRESS.sub("]", line)
    return _ABSOLUTE_PATH.sub(r"\1", line).strip()
