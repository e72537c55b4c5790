"""Followers against renders: 1,000 clients follow two running jobs' event streams while a worker
renders both; how fast `GET /api/jobs/{id}` answers meanwhile, and how much slower the renders
get than the same renders with no followers, side by side in one run.

Each side of each round starts afresh: a new data folder (and database), `moneyprinter api`,
two jobs queued, the followers connected (on the followers side), then `moneyprinter worker
--concurrency 2`, which renders both at once. A probe asks for one job or the other every
PROBE_INTERVAL_S from the worker's start until both have ended. Sides alternate in order from
round to round.

Run: `.venv/bin/python -m bench.followers [--rounds 3] [--followers 1000] [--source DIR]
[--database-url postgresql://…/db]`. `--source` serves another checkout's code (e.g.
`git archive <commit> | tar -x -C /tmp/before`) for a before/after comparison; with
`--database-url` each side gets a fresh database created next to the one named.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import (
    REPO,
    Server,
    fresh_postgres_database,
    median_of,
    parse_time,
    spawn,
    start_api,
    stop,
)

RESULTS = Path(__file__).resolve().parent / "results"
JOB_TIMEOUT_S = 600.0
PROBE_INTERVAL_S = 0.05
SIDES = ("none", "followers")
# About 15 s of narration: long enough that the followers and the probe see the whole render.
SCRIPT = (
    "Octopuses have three hearts and blue blood. Two hearts pump blood to the gills, and the "
    "third sends it to the rest of the body. When an octopus swims, that third heart stops, "
    "which is why they prefer to crawl. Their blood carries oxygen with copper instead of iron."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--source", type=Path, default=REPO, help="the code to serve")
    parser.add_argument("--database-url", default="", help="Postgres to create databases next to")
    parser.add_argument("--label", default="", help="names the results files (followers-<label>)")
    parser.add_argument(
        "--client-niceness",
        type=int,
        default=10,
        help="the followers' process niceness (they stand for clients on other machines)",
    )
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for round_number in range(args.rounds):
        order = SIDES if round_number % 2 == 0 else SIDES[::-1]
        for side in order:
            followers = args.followers if side == "followers" else 0
            result = run_side(args, followers=followers)
            runs[side].append(result)
            print(f"round {round_number + 1} {side}: {json.dumps(result)}", flush=True)
    report(args, runs)


def run_side(args: argparse.Namespace, *, followers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch, database(args.database_url) as database_url:
        database_env = {"DATABASE_URL": database_url} if database_url else {}
        server = start_api(Path(scratch), source=args.source.resolve(), env=database_env)
        try:
            return measure(server, args.quality, followers, args.client_niceness)
        finally:
            stop(server.api, timeout_s=15)


def measure(server: Server, quality: str, followers: int, client_niceness: int) -> dict[str, float]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        body = {"videoSubject": "Octopuses", "script": SCRIPT, "quality": quality}
        job_ids = [client.post("/api/generate", json=body).json()["jobId"] for _ in range(2)]
        crowd = start_followers(server, job_ids, followers, client_niceness) if followers else None
        api_cpu = psutil.Process(server.api.pid).cpu_times()
        worker = spawn(server.folder, server.env, ["worker", "--concurrency", "2"], "worker.log")
        try:
            latencies = probe_until_done(client, job_ids)
            jobs = [client.get(f"/api/jobs/{job_id}").json()["job"] for job_id in job_ids]
        finally:
            stop(worker, timeout_s=30)
        api_cpu_after = psutil.Process(server.api.pid).cpu_times()
        seen = finish_followers(crowd) if crowd else {}
    for job in jobs:
        if job["state"] != "completed":
            raise SystemExit(f"job {job['id']} {job['state']}: {job['errorMessage']}")
    render_s = [
        (parse_time(job["completedAt"]) - parse_time(job["startedAt"])).total_seconds()
        for job in jobs
    ]
    ordered = sorted(latencies)
    return {
        "followers": float(followers),
        "probes": float(len(ordered)),
        "probe_p50_ms": statistics.median(ordered),
        "probe_p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "probe_max_ms": ordered[-1],
        "render_s": statistics.mean(render_s),
        "api_cpu_s": (api_cpu_after.user + api_cpu_after.system) - (api_cpu.user + api_cpu.system),
        "followers_opened": float(seen.get("opened", 0)),
        "followers_ended": float(seen.get("ended", 0)),
        "followers_cpu_s": float(seen.get("cpu_s", 0.0)),
    }


def probe_until_done(client: httpx.Client, job_ids: list[str]) -> list[float]:
    """Milliseconds of each `GET /api/jobs/{id}`, one job then the other, until both ended."""
    latencies: list[float] = []
    ended: set[str] = set()
    deadline = time.monotonic() + JOB_TIMEOUT_S
    n = 0
    while len(ended) < len(job_ids):
        if time.monotonic() > deadline:
            raise SystemExit("the jobs did not end in time")
        job_id = job_ids[n % len(job_ids)]
        n += 1
        started = time.perf_counter()
        response = client.get(f"/api/jobs/{job_id}")
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if response.json()["job"]["state"] in ("completed", "failed", "cancelled"):
            ended.add(job_id)
        time.sleep(PROBE_INTERVAL_S)
    return latencies


@dataclass
class Crowd:
    process: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread


def start_followers(server: Server, job_ids: list[str], count: int, niceness: int) -> Crowd:
    command = [sys.executable, "-m", "bench.followers.client", str(server.port)]
    process = subprocess.Popen(
        [*command, ",".join(job_ids), str(count)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.nice(niceness),  # before the harness starts its reader thread
    )
    assert process.stdout is not None
    ready = process.stdout.readline().split()
    if not ready or ready[0] != "ready":
        raise SystemExit(f"the followers did not start: {ready}")
    opened, refused, seconds = int(ready[1]), int(ready[2]), float(ready[3])
    print(f"  {opened} followers open in {seconds:.1f} s ({refused} refused)", flush=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    return Crowd(process, lines, reader)


def finish_followers(crowd: Crowd) -> dict[str, Any]:
    crowd.process.wait(timeout=120)
    crowd.reader.join(timeout=10)
    seen: dict[str, Any] = json.loads(crowd.lines[-1])
    if seen["errors"]:
        print(f"  follower errors: {seen['errors']}", flush=True)
    return seen


@contextmanager
def database(postgres_dsn: str) -> Iterator[str]:
    """'' for SQLite (the data folder's file); else a fresh Postgres database, dropped after."""
    if not postgres_dsn:
        yield ""
        return
    with fresh_postgres_database(postgres_dsn, prefix="bench_followers") as url:
        yield url


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> None:
    medians = {side: median_of(results) for side, results in runs.items()}
    slowdown = medians["followers"]["render_s"] / medians["none"]["render_s"]
    summary = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "followers": args.followers,
        "rounds": args.rounds,
        "quality": args.quality,
        "client_niceness": args.client_niceness,
        "database": "postgres" if args.database_url else "sqlite",
        "source": str(args.source),
        "medians": medians,
        "render_slowdown": slowdown,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = f"followers-{args.label}" if args.label else "followers"
    (RESULTS / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = [
        "| Side | GET /api/jobs/{id} p50 ms | p99 ms | max ms | render s per job | API CPU s "
        "| followers' CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side in SIDES:
        m = medians[side]
        rows.append(
            f"| {side} ({int(m['followers'])}) | {m['probe_p50_ms']:.1f} | {m['probe_p99_ms']:.1f}"
            f" | {m['probe_max_ms']:.0f} | {m['render_s']:.1f} | {m['api_cpu_s']:.1f}"
            f" | {m['followers_cpu_s']:.1f} |"
        )
    text = "\n".join(
        [
            f"# Followers ({summary['database']}, medians of {args.rounds} rounds, followers' "
            f"process at niceness {args.client_niceness})",
            "",
            *rows,
            "",
            f"Renders with followers / without: {slowdown:.3f}.",
            "",
        ]
    )
    (RESULTS / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
