"""API benchmark: POST /api/generate to `moneyprinter api` alone, on SQLite and Postgres, by wrk.

Run: `.venv/bin/python -m bench.api [--duration 30] [--databases sqlite,postgres] [--reps 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from bench.common import (
    free_port,
    fresh_postgres_database,
    medians_by_side,
    stop,
    wait_until_quiet,
)

HERE = Path(__file__).parent
LUA_SCRIPT = HERE / "generate.lua"
DATABASES = ("sqlite", "postgres")
THREADS, CONNECTIONS = 2, 8
STARTUP_TIMEOUT_S = 90.0  # API workers import the app in parallel; on a busy host it takes a while
STOP_TIMEOUT_S = 15.0
# Every duration wrk prints ends in one of these units (its format_time).
TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
ORIGINAL_RPS = 167  # the original project's figure; the target is 5× it
TARGET_RPS, TARGET_P99_MS = 5 * ORIGINAL_RPS, 20.0


def wrk_command(url: str, *, duration_s: int) -> list[str]:
    return [
        "wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--latency",
        "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms), completed requests and failures from wrk's report."""

    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk's output has no match for {pattern!r}:\n{output}")
        return float(match.group(1))

    def percentile_ms(percent: int) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk's output has no {percent}% latency:\n{output}")
        return float(match.group(1)) * TIME_UNITS_MS[match.group(2)]

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": number(r"^Requests/sec:\s+([\d.]+)"),
        "p50_ms": percentile_ms(50),
        "p99_ms": percentile_ms(99),
        "requests": number(r"^\s+(\d+) requests in"),
        "non_2xx": number(r"^Non-2xx responses \(any status outside 200-299\): (\d+)"),
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def run_wrk(url: str, *, duration_s: int) -> dict[str, float]:
    done = subprocess.run(
        wrk_command(url, duration_s=duration_s), capture_output=True, text=True, check=True
    )
    return parse_wrk(done.stdout)


# -- databases -----------------------------------------------------------------------------------


@contextmanager
def database(kind: str, data_dir: Path, *, postgres_dsn: str) -> Iterator[str]:
    """A fresh, empty database of `kind`; yields its URL (empty: the SQLite file in data_dir)."""
    if kind == "sqlite":
        yield ""  # the default: <data dir>/moneyprinter.db
        return
    with fresh_postgres_database(postgres_dsn, prefix="mp_bench") as url:
        yield url


# -- the server ----------------------------------------------------------------------------------


def moneyprinter_command() -> list[str]:
    script = Path(sys.executable).parent / "moneyprinter"
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli"]


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPRINTER_")}
    env.update(DATABASE_URL=database_url, MONEYPRINTER_DATA_DIR=str(data_dir))
    # A run queues tens of thousands of jobs that no worker takes: a cap far above that still
    # counts the queue on the way (its cost is part of what is measured) but never refuses.
    env.update(MONEYPRINTER_MAX_QUEUED_JOBS=str(10**9))
    return env


@contextmanager
def api_server(
    env: dict[str, str], work_dir: Path, *, api_args: list[str]
) -> Iterator[tuple[str, psutil.Process]]:
    """`moneyprinter api` in a subprocess (no worker: jobs stay queued); yields its base URL and
    process."""
    port = free_port()
    log_path = work_dir / "api.log"
    command = [*moneyprinter_command(), "api", "--host", "127.0.0.1", "--port", str(port)]
    # The working directory is the temporary one, so no .env of the checkout is read.
    with log_path.open("wb") as log:
        server = subprocess.Popen([*command, *api_args], env=env, cwd=work_dir, stdout=log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, server, log_path)
        yield base_url, psutil.Process(server.pid)
    finally:
        stop(server, timeout_s=STOP_TIMEOUT_S)


def _wait_healthy(base_url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the API exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the API did not answer /api/health in {STARTUP_TIMEOUT_S} s")


def tree_cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the server and its live children (uvicorn's workers)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        times = member.cpu_times()
        total += times.user + times.system
    return total


def count_jobs(base_url: str) -> int:
    response = httpx.get(f"{base_url}/api/jobs", params={"limit": 1}, timeout=10)
    response.raise_for_status()
    total: int = response.json()["total"]
    return total


# -- one measurement -----------------------------------------------------------------------------


def measure(kind: str, args: argparse.Namespace) -> dict[str, float]:
    """Migrate a fresh database, start the API, warm up, then one measured wrk run."""
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{kind}-") as tmp:
        work_dir = Path(tmp)
        with database(kind, work_dir / "data", postgres_dsn=args.postgres_dsn) as url:
            env = server_env(url, work_dir / "data")
            subprocess.run([*moneyprinter_command(), "--log-level", "warning", "migrate"],
                           env=env, cwd=work_dir, check=True)  # fmt: skip
            workers = args.workers[kind]
            api_args = ["--workers", str(workers)] if workers > 1 else []
            with api_server(env, work_dir, api_args=api_args) as (base_url, server):
                target = f"{base_url}/api/generate"
                # Measured while the API idles: the share of the CPUs others are using.
                others_busy = wait_until_quiet(max_wait_s=args.quiet_wait)
                warmup = run_wrk(target, duration_s=args.warmup)
                cpu_before_s = tree_cpu_s(server)
                result = run_wrk(target, duration_s=args.duration)
                cpu_ms_per_request = (tree_cpu_s(server) - cpu_before_s) * 1e3 / result["requests"]
                jobs = count_jobs(base_url)
    # Every 2xx must have queued a job (wrk may stop with a few requests answered but uncounted).
    answered = warmup["requests"] + result["requests"]
    if jobs < answered - warmup["non_2xx"] - result["non_2xx"]:
        raise SystemExit(f"{kind}: {answered:.0f} requests answered but only {jobs} jobs queued")
    return {**result, "jobs": jobs, "server_cpu_ms": cpu_ms_per_request,
            "others_busy_pct": 100 * others_busy}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in args.databases}
    for rep in range(args.reps):
        # Alternate the order so warm caches and drift favour no database.
        order = args.databases if rep % 2 == 0 else list(reversed(args.databases))
        for kind in order:
            result = measure(kind, args)
            runs[kind].append(result)
            print(f"rep {rep + 1} {kind:8} " + " ".join(f"{k}={v:g}" for k, v in result.items()))
    return runs


# -- report --------------------------------------------------------------------------------------


def markdown(
    runs: dict[str, list[dict[str, float]]], machine: dict[str, str], args: argparse.Namespace
) -> str:
    medians = medians_by_side(runs)
    rows = [
        "| Database | API workers | requests/s | p50 ms | p99 ms | non-2xx | API CPU ms/request "
        "| target met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, m in medians.items():
        failures = sum(r["non_2xx"] + r["socket_errors"] for r in runs[kind])
        met = m["rps"] >= TARGET_RPS and m["p99_ms"] < TARGET_P99_MS and failures == 0
        rows.append(
            f"| {kind} | {args.workers[kind]} | {m['rps']:.0f} | {m['p50_ms']:.2f} "
            f"| {m['p99_ms']:.2f} | {failures:.0f} | {m['server_cpu_ms']:.2f} "
            f"| {'yes' if met else 'no'} |"
        )
    others = ", ".join(f"{r['others_busy_pct']:.0f}" for results in runs.values() for r in results)
    header = (
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"{machine['wrk']}.\n`wrk -t{THREADS} -c{CONNECTIONS} -d{args.duration}s --latency` after "
        f"a {args.warmup} s warm-up; medians of {args.reps} runs per database, interleaved. "
        f"non-2xx: every response outside 200-299 and every socket error, summed over all runs. "
        f"CPU % used by other processes just before each run: {others}.\n"
        f"Target: ≥ {TARGET_RPS} requests/s (5× the original's {ORIGINAL_RPS}) with p99 < "
        f"{TARGET_P99_MS:.0f} ms.\n"
    )
    return header + "\n" + "\n".join(rows) + "\n"


def machine_facts() -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    add = parser.add_argument
    add("--duration", type=int, default=30, help="seconds per measured run")
    add("--warmup", type=int, default=5, help="seconds of load before each run")
    add("--reps", type=int, default=3, help="runs per database")
    add("--databases", default=",".join(DATABASES), help="comma-separated: sqlite, postgres")
    add("--sqlite-workers", type=int, default=1, help="`moneyprinter api --workers` on SQLite")
    add("--postgres-workers", type=int, default=2, help="the same on Postgres")
    add("--quiet-wait", type=float, default=300, help="most seconds to wait for other work to stop")
    add(
        "--postgres-dsn",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a user that may CREATE DATABASE; each run gets a fresh one, dropped afterwards",
    )
    args = parser.parse_args()
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not args.databases or set(args.databases) - set(DATABASES):
        parser.error(f"--databases: choose from {', '.join(DATABASES)}")
    args.workers = {"sqlite": args.sqlite_workers, "postgres": args.postgres_workers}
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench.api needs wrk: install it with `sudo apt-get install -y wrk` "
            "(or run bench/api/setup.sh as root)"
        )
    runs = run(args)
    machine = machine_facts()
    report = markdown(runs, machine, args)
    print(report)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    payload = {"machine": machine, "workers": args.workers, "medians": medians_by_side(runs),
               "runs": runs}  # fmt: skip
    (results / "api.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    (results / "api.md").write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
