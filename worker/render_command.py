"""`moneyprinter render`: one video made here, no server or database, with a progress bar."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO, get_args

from pydantic import ValidationError

from app.domain import Aspect, FootageSource, Quality, VideoSpec
from app.settings import Settings
from worker.errors import PipelineError
from worker.options import PipelineOptions
from worker.pipeline.base import ProgressEvent

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
BAR_WIDTH = 28


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    render = commands.add_parser("render", help="make one video here, without a server")
    render.add_argument("--subject", required=True, help="what the video is about")
    text = render.add_mutually_exclusive_group()
    text.add_argument("--script", help="the narration (default: an LLM writes it)")
    text.add_argument("--script-file", type=Path, help="a file holding the narration")
    render.add_argument("--aspect", default="9:16", choices=get_args(Aspect))
    render.add_argument("--quality", default="standard", choices=get_args(Quality))
    render.add_argument("--language", default="en")
    render.add_argument("--voice", help="a voice id (see GET /api/voices)")
    render.add_argument("--target-seconds", type=int, help="length of an LLM-written script")
    render.add_argument("--footage-source", default="auto", choices=get_args(FootageSource))
    render.add_argument("--song", help="an uploaded song's name (implies music)")
    render.add_argument("--music", action="store_true", help="mix a random uploaded song")
    render.add_argument("--word-highlight", action="store_true", help="karaoke subtitles")
    render.add_argument("-o", "--output", type=Path, default=Path("video.mp4"), help="the MP4")
    render.add_argument(
        "--work-dir", type=Path, help="where the side files go (default: <output>.files/)"
    )
    render.set_defaults(command=render_command, config=Settings)


def render_command(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the stages load MoviePy and more, which no other command needs.
    from worker.pipeline.run import run_pipeline

    try:
        spec = _spec(args)
    except (ValidationError, OSError) as exc:
        print(f"moneyprinter render: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    output: Path = args.output
    work_dir: Path = args.work_dir or output.with_name(output.name + ".files")
    bar = ProgressBar(sys.stderr)
    started_s = time.monotonic()
    try:
        result = run_pipeline(
            spec, work_dir, options=PipelineOptions.from_settings(settings), report=bar.update
        )
    except PipelineError as exc:
        bar.finish()
        print(f"moneyprinter render: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    bar.finish()
    _place(result.video, output)
    elapsed_s = time.monotonic() - started_s
    print(
        f"{output} ({result.duration_s:.1f} s of video in {elapsed_s:.1f} s; "
        f"side files in {work_dir})",
        file=sys.stderr,
    )
    print(output)
    return 0


def _spec(args: argparse.Namespace) -> VideoSpec:
    script = args.script
    if args.script_file is not None:
        script = args.script_file.read_text(encoding="utf-8")
    return VideoSpec(
        video_subject=args.subject,
        script=script,
        aspect=args.aspect,
        quality=args.quality,
        language=args.language,
        voice=args.voice,
        target_seconds=args.target_seconds,
        footage_source=args.footage_source,
        song=args.song,
        use_music=args.music or args.song is not None,
        word_highlight=args.word_highlight,
    )


def _place(video: Path, output: Path) -> None:
    """Copy the video to `output` through a temporary name, so a half-copied file never stands
    where the user expects a finished one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    shutil.copyfile(video, partial)
    os.replace(partial, output)


class ProgressBar:
    """A one-line bar with the stage, percent and an ETA on a terminal; plain lines elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.started_s = time.monotonic()
        self.drawn = False

    def update(self, event: ProgressEvent) -> None:
        if event.message:
            self._clear()
            self.stream.write(f"{event.stage:>9}  {event.message}\n")
        if self.interactive:
            self._draw(event)
        self.stream.flush()

    def finish(self) -> None:
        self._clear()
        self.stream.flush()

    def _draw(self, event: ProgressEvent) -> None:
        done = min(max(event.progress, 0.0), 1.0)
        filled = round(BAR_WIDTH * done)
        elapsed_s = time.monotonic() - self.started_s
        eta = _clock(elapsed_s * (1 - done) / done) if done > 0.02 else "--:--"
        line = (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done:4.0%} {event.stage:<9} ETA {eta}"
        )
        self.stream.write("\r" + line)
        self.drawn = True

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
