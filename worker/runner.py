"""One child process per job: its own process group, its progress pipe, its outcome, its kill."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from app.domain import EventLevel, EventType
from worker.options import PipelineOptions
from worker.providers.http import scrub

logger = logging.getLogger(__name__)

JOB_FILE = "job.json"
STAGES_DIR = "stages"
STDERR_TAIL_LINES = 40
STDERR_LINE_CHARS = 2000
STDERR_CHUNK_BYTES = 1 << 16
# A result line lists every output; allow far more than it will ever need.
LINE_LIMIT_BYTES = 1 << 20
PROGRESS_MIN_INTERVAL_S = 0.5
PROGRESS_MIN_STEP = 0.05
# The lowest CPU priority Linux has.
MAX_NICENESS = 19

StopReason = Literal["cancel", "lost", "shutdown", "timeout"]

# What a child inherits of the worker's environment: what it and its programs (ffmpeg, Piper,
# espeak-ng, fontconfig, httpx) need to run, never the service's settings: those hold secrets, and
# the child gets the few it needs over stdin (PipelineOptions).
CHILD_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ",
        "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
        "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
        "PYTHONIOENCODING", "PYTHONUTF8",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        "FONTCONFIG_FILE", "FONTCONFIG_PATH", "ESPEAK_DATA_PATH",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_DATA_DIRS", "XDG_RUNTIME_DIR",
    }
)  # fmt: skip
CHILD_ENV_PREFIXES = ("LC_",)
# numpy's BLAS (the footage ranker's sentence model) starts a thread per core by default; beside
# ffmpeg on a busy machine those threads wait on each other and one sentence takes 3-5x longer.
CHILD_ENV_DEFAULTS = {"OPENBLAS_NUM_THREADS": "1"}


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allowlisted part of `environ` (CHILD_ENV_NAMES, LC_*), over CHILD_ENV_DEFAULTS."""
    return CHILD_ENV_DEFAULTS | {
        name: value
        for name, value in environ.items()
        if name in CHILD_ENV_NAMES or name.startswith(CHILD_ENV_PREFIXES)
    }


@dataclass(frozen=True)
class ChildExit:
    returncode: int
    stderr_tail: str

    def describe(self) -> str:
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = str(-self.returncode)
            return f"killed by signal {name}"
        return f"exit code {self.returncode}"


def prepare_work_dir(
    work_dir: Path, *, job_id: str, attempt: int, spec: dict[str, Any],
    recent_clips: Iterable[str] = (), storyboard: dict[str, Any] | None = None,
    uploads_dir: Path | None = None, preview: bool = False,
) -> Path:  # fmt: skip
    """A clean `<data>/jobs/<id>/<attempt>/` holding the job file; returns the file's absolute path.
    `recent_clips`: footage the job should not repeat (FootageUseRepository.recent);
    `storyboard`: the reviewed plan to render (app/storyboard.py), if any, and the clips uploaded
    for it in `uploads_dir` (app/clip_uploads.py); `preview`: a scene's draft, which stops at the
    render. The job's
    finished stages are kept beside its attempts, in `<data>/jobs/<id>/stages/`
    (worker/pipeline/stages.py).

    A released job runs again under the same attempt number, so a folder may hold a previous
    run's partial files: it belongs to this job alone and is emptied.
    """
    work_dir = work_dir.resolve()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    job_file = work_dir / JOB_FILE
    document = {
        "jobId": job_id, "attempt": attempt, "spec": spec, "recentClips": sorted(recent_clips),
        "stagesDir": str(work_dir.parent / STAGES_DIR), "storyboard": storyboard,
        "uploadsDir": str(uploads_dir) if uploads_dir else None, "preview": preview,
    }  # fmt: skip
    job_file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return job_file


def _lower_priority(pid: int, niceness: int) -> None:
    """Lower the CPU priority of the child `pid`, leader of its own session, by `niceness`.

    Its nice value alone is not enough on Linux: with autogroups on (the default of most
    distributions), every session is a scheduling group of its own, weighed against the others
    as equals, and a nice value only counts inside its group, so each render would still take as
    much CPU as the whole API. The session's group gets the niceness too (`/proc/PID/autogroup`;
    raising it needs no privilege); where there are no autogroups, the file is absent."""
    lowered = min(MAX_NICENESS, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, pid, lowered)
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(f"{min(MAX_NICENESS, niceness)}\n")


class ChildProcess:
    """A running `python -m worker.child`, leader of its own process group."""

    def __init__(self, process: asyncio.subprocess.Process, *, secrets: Iterable[str] = ()) -> None:
        self._process = process
        self._secrets = tuple(secrets)
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(
        cls,
        job_file: Path,
        options: PipelineOptions,
        *,
        secrets: Iterable[str] = (),
        niceness: int = 0,
    ) -> ChildProcess:
        """Start the child on `job_file` (an absolute path: the child runs in its folder).

        The options go to the child's stdin, not into the work folder: they hold API keys. Its
        environment is the allowlisted part of ours (`child_environment`); what it prints on
        stderr is scrubbed of `secrets` before it is logged or kept. `niceness` lowers its CPU
        priority (and its ffmpegs', which inherit it) before it starts any."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker.child",
            str(job_file),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=job_file.parent,
            # Its own session and process group: a kill reaches ffmpeg too, and a Ctrl-C in the
            # worker's terminal does not (shutdown decides what happens to running jobs).
            start_new_session=True,
            limit=LINE_LIMIT_BYTES,
            env=child_environment(os.environ),
        )
        if niceness:
            # Before the options are written: the child reads them before it runs anything.
            _lower_priority(process.pid, niceness)
        assert process.stdin is not None
        process.stdin.write(options.model_dump_json().encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await process.stdin.drain()
        process.stdin.close()
        return cls(process, secrets=secrets)

    @property
    def pid(self) -> int:
        return self._process.pid

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """The child's JSON lines until it closes stdout (a stray line is logged and skipped)."""
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("child %d printed a non-protocol line: %r", self.pid, line[:200])
                continue
            if isinstance(message, dict):
                yield message

    def kill(self) -> None:
        """SIGKILL the child's process group (the child and any ffmpeg or espeak-ng it started).

        Only until asyncio has reaped the child (it sets `returncode` then): until that moment
        the pid, and so the group id, is still ours; afterwards the number may be someone else's
        and is left alone. A grandchild outliving a crashed child dies of a broken pipe.
        """
        if self._process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def wait(self) -> ChildExit:
        returncode = await self._process.wait()
        await self._stderr_task
        return ChildExit(returncode, "\n".join(self._stderr_tail))

    async def _drain_stderr(self) -> None:
        # Read in chunks, not lines: an endless line must neither stop the draining (the child
        # would block on a full pipe) nor grow memory.
        assert self._process.stderr is not None
        pending = b""
        while chunk := await self._process.stderr.read(STDERR_CHUNK_BYTES):
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-STDERR_CHUNK_BYTES:]
            for raw in lines:
                self._keep_stderr_line(raw)
        self._keep_stderr_line(pending)

    def _keep_stderr_line(self, raw: bytes) -> None:
        text = scrub(raw.decode("utf-8", "replace").rstrip(), self._secrets)
        if text:
            self._stderr_tail.append(text[-STDERR_LINE_CHARS:])
            logger.debug("child %d: %s", self._process.pid, text)


@dataclass
class Outcome:
    """What a child run produced: its exit, and its `result` or `error` line if it sent one."""

    work_dir: Path
    exit: ChildExit | None = None  # None: the child never started
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    review: dict[str, Any] | None = None  # the `review` line, when the job stops for review
    deferred: tuple[datetime, str] | None = None  # (not before, why): back to the queue

    @property
    def succeeded(self) -> bool:
        """The child ended well: with its result, or with a storyboard for review."""
        ended = self.result is not None or self.review is not None
        return ended and self.exit is not None and self.exit.returncode == 0

    def failure(self) -> tuple[str, dict[str, Any]]:
        """The error message and the failure event's details (`retryable`, `stage`, `exitCode`).
        Paths in the work folder are shown relative to it: the public message tells nothing of
        the host's layout."""
        message, details = self._failure()
        return message.replace(f"{self.work_dir.resolve()}{os.sep}", ""), details

    def _failure(self) -> tuple[str, dict[str, Any]]:
        details: dict[str, Any] = {"retryable": True}
        if self.exit is not None:
            details["exitCode"] = self.exit.returncode
        if self.error is not None:
            details["retryable"] = bool(self.error.get("retryable", True))
            if self.error.get("stage"):
                details["stage"] = str(self.error["stage"])
            return str(self.error.get("message") or "The pipeline failed."), details
        if self.exit is None:
            return "The pipeline process did not start.", details
        how = self.exit.describe()
        if self.exit.returncode == 0:
            return f"The pipeline process ended without a result ({how}).", details
        lines = [line.strip() for line in self.exit.stderr_tail.splitlines() if line.strip()]
        last_lines = lines[-2:]  # for a Python traceback: the failing line and the exception
        detail = f": {' / '.join(last_lines)}" if last_lines else "."
        return f"The pipeline process crashed ({how}){detail}", details

    @property
    def qa_passed(self) -> bool:
        """Whether every check of the finished video passed (worker/pipeline/qa.py)."""
        return bool((self.result or {}).get("qaPassed", True))

    @property
    def clips(self) -> list[str]:
        """The footage the video used, as `Candidate.key`s."""
        return [str(key) for key in (self.result or {}).get("clips", [])]

    def video(self) -> Path | None:
        return self._inside(str((self.result or {}).get("video", "")))

    def artifacts(self, data_dir: Path) -> list[dict[str, Any]]:
        """The outputs the child listed (with its result, or for review) that are files in its
        work folder, as
        `ArtifactRepository.add` arguments with paths relative to `data_dir`."""
        artifacts = []
        for output in (self.result or self.review or {}).get("outputs", []):
            path = self._inside(str(output.get("path", "")))
            if path is None:
                continue
            artifacts.append(
                {
                    "kind": str(output["kind"]),
                    "path": path.relative_to(data_dir.resolve()).as_posix(),
                    "size_bytes": int(output["bytes"]),
                    "sha256": str(output["sha256"]),
                    "mime": str(output["mime"]),
                    "media": output.get("media") or None,
                }
            )
        return artifacts

    def _inside(self, relative: str) -> Path | None:
        root = self.work_dir.resolve()
        path = (root / relative).resolve()
        return path if relative and path.is_relative_to(root) and path.is_file() else None


async def run_child(
    job_file: Path,
    *,
    options: PipelineOptions,
    on_start: Callable[[ChildProcess], None],
    on_progress: Callable[[dict[str, Any]], Awaitable[None]],
    on_stage: Callable[[str], None] = lambda _: None,
    secrets: Iterable[str] = (),
    niceness: int = 0,
) -> Outcome:
    """Run the child to its end, passing progress lines on, and the name of each stage it
    recorded to `on_stage`; `on_start` gets it (to kill it)."""
    outcome = Outcome(job_file.parent)
    child = await ChildProcess.start(job_file, options, secrets=secrets, niceness=niceness)
    on_start(child)
    try:
        async for message in child.messages():
            kind = message.get("type")
            if kind == "progress":
                await on_progress(message)
            elif kind == "stage" and isinstance(message.get("stage"), str):
                on_stage(message["stage"])
            elif kind == "result":
                outcome.result = message
            elif kind == "error":
                outcome.error = message
            elif kind == "review" and isinstance(message.get("storyboard"), dict):
                outcome.review = message
    except BaseException:
        child.kill()  # nothing reads it any more
        raise
    outcome.exit = await child.wait()
    return outcome


@dataclass(frozen=True)
class ProgressUpdate:
    event_type: EventType
    message: str
    level: EventLevel
    stage: str
    progress: float


@dataclass
class ProgressThrottle:
    """Which progress lines become events: a stage change or a message always; bare progress at
    most every 0.5 s or 5 %, so a long render writes a few dozen rows, not thousands."""

    stage: str | None = None
    progress: float = 0.0
    written_at_s: float = 0.0

    def update_for(self, message: dict[str, Any], *, now_s: float) -> ProgressUpdate | None:
        stage = str(message.get("stage") or "")
        progress = min(max(float(message.get("progress") or 0.0), 0.0), 1.0)
        text = message.get("message")
        if stage != self.stage:
            update = ProgressUpdate(
                EventType.STAGE, str(text or f"Stage: {stage}."), EventLevel.INFO, stage, progress
            )
        elif text:
            level = _level(message.get("level"))
            update = ProgressUpdate(EventType.LOG, str(text), level, stage, progress)
        elif progress > self.progress and (
            now_s - self.written_at_s >= PROGRESS_MIN_INTERVAL_S
            or progress - self.progress >= PROGRESS_MIN_STEP
        ):
            message_text = f"{stage}: {progress:.0%}"
            update = ProgressUpdate(
                EventType.PROGRESS, message_text, EventLevel.INFO, stage, progress
            )
        else:
            return None
        self.stage, self.progress, self.written_at_s = stage, progress, now_s
        return update


def _level(value: object) -> EventLevel:
    try:
        return EventLevel(str(value))
    except ValueError:
        return EventLevel.INFO


class JobLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each record with the job id, attempt and worker id (also given as `extra`)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        job, attempt, worker = extra.get("job_id"), extra.get("attempt"), extra.get("worker_id")
        return f"job={job} attempt={attempt} worker={worker}: {msg}", kwargs


@dataclass
class RunningJob:
    """A job this worker holds: its lease token, its child (or, for an in-loop kind, its body's
    task), and why it was stopped (if it was)."""

    id: str
    kind: str
    attempt: int
    max_attempts: int
    token: str
    payload: dict[str, Any]
    log: JobLog
    storyboard: dict[str, Any] | None = None  # reviewed, to render
    child: ChildProcess | None = None
    body: asyncio.Task[None] | None = None
    stop_reason: StopReason | None = None
    finishing: bool = False
    throttle: ProgressThrottle = field(default_factory=ProgressThrottle)

    def stop(self, reason: StopReason) -> None:
        """Kill the child (or cancel the body) and remember why; the first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.child is not None:
            self.child.kill()
        if self.body is not None:
            self.body.cancel()

    def started(self, child: ChildProcess) -> None:
        self.child = child
        self.log.info("child process %d started", child.pid)
        if self.stop_reason is not None:  # stopped while the child was starting
            child.kill()
