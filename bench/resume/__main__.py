"""Time to done of a job whose attempt failed at the render, or just after it (the thumbnail):
its retry, which takes what the failed attempt finished from its stages and the host's cache,
against a full rerun (an empty stages folder and cache: what every retry cost before), side by
side, alternating. And the render of a reviewed job whose scene 2 a reviewer rewrote (`"review":
true`, then the storyboard edited and approved): what an edit costs, against the same full run.

The job: the render benchmark's ten-sentence ocean script (≈ 30 s), spoken by Piper (the
default offline voice), footage from a loopback Pexels serving the render benchmark's four 1080p
clips turned upright (searched, ranked by the sentence model, downloaded), rendered at
`standard` 1080×1920.
Each run is the real child (`python -m worker.child`); the failed attempt's ffmpeg is SIGKILLed
as the render (or the thumbnail's frame grab) starts, as the out-of-memory killer would.

    .venv/bin/python -m bench.resume --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.domain import VideoSpec
from app.settings import Settings, find_ffmpeg
from app.storyboard import SceneEdit, Storyboard, StoryboardEdit, apply_edit
from bench.common import median_of, wait_until_quiet
from bench.render.inputs import SENTENCES, ensure_inputs
from tests.fakes import pexels
from tests.fakes.pexels import FakeVideo, MediaFile
from tests.fakes.server import serving
from worker.options import FootageOptions, PipelineOptions, VoiceOptions

HERE = Path(__file__).resolve().parent
KEY = "bench-key"
# What the first attempt's ffmpeg is killed at (an argument it is given), per side.
FAILING_AT = {
    "retry after the render failed": "*video.mp4.part",
    "retry after the thumbnail failed": "*.frame.png",
}
REVIEWED = "render after a review edit"
PREVIEW = "draft of the edited scene alone"
SIDES = (*FAILING_AT, REVIEWED, PREVIEW, "full rerun")
EDITED_TEXT = "Whales sing songs that travel for miles under the waves."


def child(
    work_dir: Path, *, options: PipelineOptions, spec: VideoSpec, stages_dir: Path,
    storyboard: Storyboard | None = None, planned: list[Storyboard] | None = None,
    preview: bool = False,
) -> dict[str, float]:  # fmt: skip
    """Run the child on a fresh `work_dir`: its wall seconds, and when each stage began. A
    storyboard it plans for review goes to `planned`."""
    work_dir.mkdir(parents=True)
    job_file = work_dir / "job.json"
    document = {
        "jobId": "bench", "attempt": 1, "spec": spec.model_dump(mode="json", by_alias=True),
        "recentClips": [], "stagesDir": str(stages_dir),
        "storyboard": storyboard and storyboard.model_dump(mode="json", by_alias=True),
        "preview": preview,
    }  # fmt: skip
    job_file.write_text(json.dumps(document), encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.child", str(job_file)], cwd=work_dir,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(options.model_dump_json().encode())
    process.stdin.close()
    began: dict[str, float] = {}
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "progress":
            began.setdefault(message["stage"], time.monotonic() - started)
        elif message["type"] == "review" and planned is not None:
            planned.append(Storyboard.model_validate(message["storyboard"]))
    process.wait()
    return {"wall_s": time.monotonic() - started, "exit": process.returncode,
            "render_at_s": began.get("render", float("nan"))}  # fmt: skip


def killed_at(pattern: str, folder: Path, ffmpeg_exe: str) -> str:
    """An ffmpeg that SIGKILLs itself when an argument matches `pattern` (a shell pattern)."""
    wrapper = folder / "ffmpeg-killed"
    wrapper.write_text(
        f'#!/bin/sh\nfor arg in "$@"; do case "$arg" in {pattern}) kill -9 $$;; esac; done\n'
        f'exec "{ffmpeg_exe}" "$@"\n',
        encoding="utf-8",
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper)


def portrait_clips(inputs_dir: Path) -> list[Path]:
    """The render benchmark's 1080p clips turned upright (1080×1920), made once."""
    clips = []
    for clip in ensure_inputs(inputs_dir).clips:
        upright = clip.with_name(f"{clip.stem}-portrait.mp4")
        if not upright.exists():
            subprocess.run(
                [find_ffmpeg(), "-v", "error", "-i", str(clip), "-vf", "transpose=1",
                 "-c:v", "libx264", "-preset", "fast", "-crf", "20", "-pix_fmt", "yuv420p",
                 "-y", str(upright)],
                check=True,
            )  # fmt: skip
        clips.append(upright)
    return clips


def run(reps: int, inputs_dir: Path) -> dict[str, list[dict[str, float]]]:
    clips = portrait_clips(inputs_dir)
    media = {path.name: MediaFile(path, 1080, 1920) for path in clips}
    videos = [FakeVideo(n + 1, 8, (path.name,), "ocean sea fish") for n, path in enumerate(clips)]
    spec = VideoSpec(
        video_subject="the ocean", script=" ".join(SENTENCES), quality="standard",
        footage_source="pexels",
    )  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with serving(pexels.handler(videos=videos, media=media, api_key=KEY)) as url:
        base = PipelineOptions.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
        for rep in range(reps):
            order = SIDES if rep % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                with tempfile.TemporaryDirectory(prefix="bench-resume-") as scratch:
                    folder = Path(scratch)
                    options = base.model_copy(
                        update={
                            "cache_dir": folder / "cache",
                            "footage": FootageOptions(pexels_api_key=KEY, pexels_base_url=url),
                            "voice": VoiceOptions(provider="piper"),
                        }
                    )
                    stages = folder / "stages"
                    storyboard, run_spec = None, spec
                    if side in (REVIEWED, PREVIEW):
                        storyboard = reviewed(folder, options=options, spec=spec, stages=stages)
                    if storyboard is not None and side == PREVIEW:
                        # As the API queues one: a job of its own, at draft quality.
                        storyboard = storyboard.scene_alone(1)
                        stages, run_spec = (
                            folder / "preview-stages",
                            spec.model_copy(update={"quality": "draft", "review": False}),
                        )
                    if side in FAILING_AT:
                        wrapper = killed_at(FAILING_AT[side], folder, base.ffmpeg_exe)
                        failing = options.model_copy(update={"ffmpeg_exe": wrapper})
                        failed = child(folder / "1", options=failing, spec=spec, stages_dir=stages)
                        assert failed["exit"] != 0, "the first attempt was to fail"
                    wait_until_quiet(max_wait_s=30)
                    result = child(
                        folder / "2", options=options, spec=run_spec, stages_dir=stages,
                        storyboard=storyboard, preview=side == PREVIEW,
                    )  # fmt: skip
                    assert result["exit"] == 0, f"{side} failed: see {folder}"
                    shutil.rmtree(folder / "cache", ignore_errors=True)
                runs[side].append(result)
                print(f"rep {rep + 1} {side:32} wall {result['wall_s']:.1f} s, render began at "
                      f"{result['render_at_s']:.1f} s", flush=True)  # fmt: skip
    return runs


def reviewed(
    folder: Path, *, options: PipelineOptions, spec: VideoSpec, stages: Path
) -> Storyboard:
    """The job planned for review, then scene 2's text rewritten and the render asked for."""
    planned: list[Storyboard] = []
    plan = child(
        folder / "plan", options=options, spec=spec.model_copy(update={"review": True}),
        stages_dir=stages, planned=planned,
    )  # fmt: skip
    assert plan["exit"] == 0 and planned, "the plan was to be made"
    board = planned[0]
    scenes = [
        SceneEdit(text=EDITED_TEXT) if n == 1 else SceneEdit() for n in range(len(board.scenes))
    ]
    edited, _ = apply_edit(
        board, spec.model_dump(by_alias=True), StoryboardEdit(scenes=scenes), max_words=10_000
    )
    return edited.model_copy(update={"approved": True})


def markdown(runs: dict[str, list[dict[str, float]]]) -> str:
    medians = {side: median_of(results) for side, results in runs.items()}
    full = medians["full rerun"]
    rows = [
        "| Side | time to done (median s) | × sooner than a full rerun | render began at "
        "(median s) | runs (s) |",
        "|---|---:|---:|---:|---|",
    ]
    for side in SIDES:
        every = ", ".join(f"{r['wall_s']:.1f}" for r in runs[side])
        figures = medians[side]
        rows.append(
            f"| {side} | {figures['wall_s']:.1f} | {full['wall_s'] / figures['wall_s']:.2f} "
            f"| {figures['render_at_s']:.1f} | {every} |"
        )
    return (
        f"Repetitions: {len(runs['full rerun'])}, alternating; machine: {os.cpu_count()} cores."
        "\n\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--inputs", type=Path, default=HERE.parent / "render" / ".cache")
    args = parser.parse_args()
    runs = run(args.reps, args.inputs.resolve())
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "resume.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")
    text = markdown(runs)
    (results / "resume.md").write_text("# A retry against a full rerun\n\n" + text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
