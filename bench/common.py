"""What the benchmark harnesses share: medians of repeated runs, and stopping a child process."""

from __future__ import annotations

import signal
import statistics
import subprocess


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over runs that all measured the same figures."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def medians_by_side(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """`median_of` for every side (database, renderer…) that has runs."""
    return {side: median_of(results) for side, results in runs.items() if results}


def stop(process: subprocess.Popen[bytes], *, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
