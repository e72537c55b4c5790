"""Render benchmark: ours vs (a) a hand-written ffmpeg command vs (b) plain MoviePy, side by side.

Run: `.venv/bin/python -m bench.render [--reps 3] [--moviepy-reps 1]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import medians_by_side
from bench.render.inputs import VOICE_DURATION_S, ensure_inputs

HERE = Path(__file__).parent
POLL_S = 0.05
NAMES = ("ours", "handwritten", "moviepy")


def measure(name: str, cache_dir: Path) -> dict[str, float]:
    """One render in a child process: its wall time, and the CPU time and peak RSS of its tree."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as out_dir:
        command = [sys.executable, "-m", "bench.render.variants", name, str(cache_dir), out_dir]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=HERE.parent.parent)
        peak_bytes = 0
        while True:
            # wait4 (not poll) so the child's rusage, which includes every descendant it waited
            # for (the ffmpeg processes), is ours to read when it exits.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_bytes = max(peak_bytes, _tree_rss_bytes(child.pid))
            time.sleep(POLL_S)
        child.returncode = os.waitstatus_to_exitcode(status)
        assert child.stdout is not None
        output = child.stdout.read().decode()
        if child.returncode != 0:
            raise SystemExit(f"{name} failed with exit code {child.returncode}")
        wall_s = json.loads(output.strip().splitlines()[-1])["wall_s"]
    return {
        "wall_s": wall_s,
        "s_per_output_s": wall_s / VOICE_DURATION_S,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": peak_bytes / 1e6,
    }


def _tree_rss_bytes(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        # A process may end between the listing and the reading.
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def run(reps: int, moviepy_reps: int, cache_dir: Path) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in NAMES}
    for rep in range(reps):
        # Alternate the order so warm caches and thermal drift favour no side.
        order = NAMES if rep % 2 == 0 else tuple(reversed(NAMES))
        for name in order:
            if name == "moviepy" and rep >= moviepy_reps:
                continue
            result = measure(name, cache_dir)
            runs[name].append(result)
            print(f"rep {rep + 1} {name:12} " + " ".join(f"{k}={v:.2f}" for k, v in result.items()))
    return runs


def markdown(medians: dict[str, dict[str, float]], machine: dict[str, str], reps: str) -> str:
    ours, hand, plain = medians["ours"], medians["handwritten"], medians.get("moviepy")
    rows = [
        "| Render | s per output s | CPU s | peak MB (tree) |",
        "|---|---:|---:|---:|",
    ]
    labels = {"ours": "ours (`render_video`)", "handwritten": "(a) hand-written ffmpeg",
              "moviepy": "(b) plain MoviePy 2, preset medium"}  # fmt: skip
    for name, figures in medians.items():
        rows.append(
            f"| {labels[name]} | {figures['s_per_output_s']:.2f} | {figures['cpu_s']:.0f} "
            f"| {figures['peak_mb']:.0f} |"
        )
    ratios = [f"- ours / (a): {ours['wall_s'] / hand['wall_s']:.2f}× (target ≤ 1.15×)"]
    if plain:
        ratios.append(f"- (b) / ours: {plain['wall_s'] / ours['wall_s']:.1f}× (target ≥ 4×)")
    ratios.append(f"- ours peak memory: {ours['peak_mb']:.0f} MB (target < 600 MB)")
    header = f"Machine: {machine['nproc']} cores, {machine['ffmpeg']}; repetitions: {reps}.\n"
    return header + "\n" + "\n".join(rows) + "\n\n" + "\n".join(ratios) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--moviepy-reps", type=int, default=None, help="default: --reps")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache")
    args = parser.parse_args()
    moviepy_reps = args.reps if args.moviepy_reps is None else args.moviepy_reps
    ensure_inputs(args.cache)
    runs = run(args.reps, moviepy_reps, args.cache.resolve())
    medians = medians_by_side(runs)
    ffmpeg_line = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
    machine = {
        "nproc": str(os.cpu_count()),
        "ffmpeg": ffmpeg_line.stdout.splitlines()[0],
        "python": platform.python_version(),
    }
    reps_text = f"{args.reps} (MoviePy {moviepy_reps})"
    report = markdown(medians, machine, reps_text)
    print(report)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    payload = {"machine": machine, "reps": reps_text, "medians": medians, "runs": runs}
    (results / "render.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    (results / "render.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
