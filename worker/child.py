"""The per-job child process: reads the job file, runs the pipeline, reports in JSON lines.

Protocol (one JSON object per line): `progress` {stage, progress, message?, level} and `stage`
{stage} (a stage recorded in the job's stages folder, worker/pipeline/stages.py), then either
`result` {video, durationS, outputs: [{kind, path, bytes, sha256, mime, media}]} and exit code 0,
`review` {storyboard, outputs} and exit code 0 (a job asked for review, planned:
app/storyboard.py; its outputs are the voice and script a reviewer may look at), or
`error` {message, retryable, stage} and exit code 1. Paths are relative to the work folder.
Anything else the process prints goes to stderr, which the worker keeps the tail of.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from app.domain import VideoSpec
from app.media import find_ffprobe, probe_media
from app.storage import sha256_file
from app.storyboard import Storyboard
from worker.errors import PipelineError
from worker.options import PipelineOptions
from worker.pipeline.base import OutputFile, ProgressEvent
from worker.pipeline.run import plan_storyboard, run_pipeline
from worker.pipeline.stages import StageStore

EXIT_FAILED = 1
EXIT_USAGE = 2
PARENT_CHECK_INTERVAL_S = 0.5


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m worker.child <job.json> < options.json", file=sys.stderr)
        return EXIT_USAGE
    _die_with_the_worker()
    protocol = _protocol_stream()
    job_file = Path(args[0])
    work_dir = job_file.parent
    job = json.loads(job_file.read_text(encoding="utf-8"))
    # The worker writes the options (with any API keys) to stdin, never to the work folder.
    options = PipelineOptions.model_validate_json(sys.stdin.buffer.read())
    try:
        spec = VideoSpec.model_validate(job["spec"])
    except ValidationError as exc:
        _emit(protocol, error_line(f"The job's spec is invalid: {exc}", retryable=False))
        return EXIT_FAILED

    def report(event: ProgressEvent) -> None:
        _emit(protocol, progress_line(event))

    stages = StageStore(
        Path(job["stagesDir"]) if job.get("stagesDir") else None,
        on_save=lambda stage: _emit(protocol, {"type": "stage", "stage": stage}),
    )
    recent = frozenset(job.get("recentClips", ()))
    try:
        storyboard = Storyboard.model_validate(job["storyboard"]) if job.get("storyboard") else None
    except ValidationError as exc:
        _emit(protocol, error_line(f"The job's storyboard is invalid: {exc}", retryable=False))
        return EXIT_FAILED
    try:
        if spec.review and storyboard is None:
            planned, files = plan_storyboard(
                spec, work_dir, options=options, report=report, recent_clips=recent, stages=stages
            )
            review = planned.model_dump(mode="json", by_alias=True)
            outputs = listed(files, work_dir=work_dir, ffmpeg_exe=options.ffmpeg_exe)
            _emit(protocol, {"type": "review", "storyboard": review, "outputs": outputs})
            return 0
        result = run_pipeline(
            spec, work_dir, options=options, report=report, recent_clips=recent, stages=stages,
            storyboard=storyboard,
            uploads_dir=Path(job["uploadsDir"]) if job.get("uploadsDir") else None,
            preview=bool(job.get("preview")),
        )  # fmt: skip
    except PipelineError as exc:
        _emit(protocol, error_line(exc.message, retryable=exc.retryable, stage=exc.stage))
        return EXIT_FAILED
    _emit(
        protocol,
        {
            "type": "result",
            "video": result.video.relative_to(work_dir).as_posix(),
            "durationS": round(result.duration_s, 3),
            "outputs": listed(result.outputs, work_dir=work_dir, ffmpeg_exe=options.ffmpeg_exe),
            "qaPassed": result.qa_passed,
            "clips": result.clips,
        },
    )
    return 0


def listed(outputs: list[OutputFile], *, work_dir: Path, ffmpeg_exe: str) -> list[dict[str, Any]]:
    """The outputs as the protocol lists them: path in the work folder, size, digest, media."""
    ffprobe_exe = find_ffprobe(ffmpeg_exe)
    entries = []
    for output in outputs:
        media = output.media
        if output.kind in ("video", "voice"):
            media = {**media, **(probe_media(output.path, ffprobe_exe=ffprobe_exe) or {})}
        entries.append(
            {
                "kind": output.kind,
                "path": output.path.relative_to(work_dir).as_posix(),
                "bytes": output.path.stat().st_size,
                "sha256": sha256_file(output.path),
                "mime": output.mime,
                "media": media,
            }
        )
    return entries


def _die_with_the_worker() -> None:
    """Kill this process group (the child and its ffmpeg) when the worker that started it dies.

    The child leads its own process group so that signals aimed at the worker do not reach it;
    the price is that a SIGKILLed worker would leave it running, rendering a result nobody
    records while the job runs again elsewhere. Orphaned, the child is re-parented, so a
    changed parent pid means the worker is gone.
    """
    worker_pid = os.getppid()

    def watch() -> None:
        while os.getppid() == worker_pid:
            time.sleep(PARENT_CHECK_INTERVAL_S)
        if os.getpgrp() == os.getpid():  # the group is ours alone (the worker made it so)
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def progress_line(event: ProgressEvent) -> dict[str, Any]:
    return {
        "type": "progress",
        "stage": event.stage,
        "progress": round(event.progress, 4),
        "message": event.message,
        "level": event.level,
    }


def error_line(message: str, *, retryable: bool, stage: str | None = None) -> dict[str, Any]:
    return {"type": "error", "message": message, "retryable": retryable, "stage": stage}


def _protocol_stream() -> IO[str]:
    """Keep the real stdout for the protocol and point fd 1 at stderr, so that nothing else
    printed by a library or a subprocess can corrupt the JSON lines."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)


def _emit(stream: IO[str], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, ensure_ascii=False) + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
