"""Queue benchmark: MoneyPrinter's queue vs procrastinate (PyPI), side by side on one Postgres.

Run: `.venv/bin/python -m bench.queue [--rounds 3] [--peer-python /tmp/peer-venv/bin/python]`.

Each side gets its own fresh database, created here and dropped at the end. Measured, with the
sides interleaved (the order alternates) and repeated:
1. claim throughput: drain N seeded no-op jobs (the body runs in the worker's event loop) at
   each concurrency; jobs/s, WAL bytes and commits per job;
2. pickup latency: jobs enqueued one by one on an idle worker process, with NOTIFY and with
   polling at each side's default interval;
3. ours only: what a video job's child process adds, claim → first progress event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import median_of, stop

HERE = Path(__file__).parent
REPO = HERE.parent.parent
PEER_SCRIPT = HERE / "procrastinate_peer.py"
OURS_SCRIPT = HERE / "ours.py"
SIDES = ("ours", "peer")
BASELINE = "base"  # --baseline: another checkout's worker, drained like ours
MODES = ("notify", "poll")
DRAIN_TIMEOUT_S = 3600.0
STOP_TIMEOUT_S = 30.0
# Backends flush their statistics when they exit; give the last ones a moment.
STATS_SETTLE_S = 1.0
# The WAL a database wrote between two positions: records touching its relations, and the
# records (commits) of the transactions that wrote those. Other databases' work, and the
# cluster's own records (checkpoints, running-xacts), are left out: the machine is shared.
WAL_OF_DATABASE = """
WITH records AS (
    SELECT xid::text AS xid, record_length, block_ref
      FROM pg_get_wal_records_info('0/0'::pg_lsn + $1::numeric, '0/0'::pg_lsn + $2::numeric)
), writers AS (
    SELECT DISTINCT xid FROM records WHERE block_ref LIKE $3 AND xid <> '0'
)
SELECT coalesce(sum(record_length), 0) FROM records
 WHERE block_ref LIKE $3 OR xid IN (SELECT xid FROM writers)
"""
PEER_SETUP = """procrastinate is not installed for {python}. Create its venv (outside the repo):
  python3 -m venv /tmp/peer-venv
  /tmp/peer-venv/bin/pip install procrastinate 'psycopg[binary,pool]'
or pass --peer-python."""


class Bench:
    """The sides' databases, and how each side's commands are run on them."""

    def __init__(self, server: str, peer_python: str, baseline: Path | None = None) -> None:
        self.server = server.rstrip("/")
        self.peer_python = peer_python
        self.baseline = baseline
        suffix = os.getpid()
        self.databases = {
            "ours": f"bench_queue_ours_{suffix}",
            "peer": f"bench_queue_peer_{suffix}",
            "tools": f"bench_queue_tools_{suffix}",  # pg_walinspect, apart from both sides
        }
        if baseline is not None:
            self.databases[BASELINE] = f"bench_queue_base_{suffix}"
        self.work = Path(tempfile.mkdtemp(prefix="bench-queue-"))

    def url(self, side: str) -> str:
        return f"{self.server}/{self.databases[side]}"

    def env(self, side: str, **extra: str) -> dict[str, str]:
        # Neither side sees this shell's MoneyPrinter configuration: defaults unless set here.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MONEYPRINTER_", "PROCRASTINATE_")) and key != "DATABASE_URL"
        }
        # The baseline's `app` and `worker` packages come first, and run this harness's ours.py.
        env["PYTHONPATH"] = str(self.baseline if side == BASELINE else REPO)
        env["PROCRASTINATE_DSN"] = self.url("peer")
        return env | extra

    def command(self, side: str, *args: str | int) -> list[str]:
        if side == "peer":
            return [self.peer_python, str(PEER_SCRIPT), *map(str, args)]
        command, *rest = map(str, args)
        return [sys.executable, str(OURS_SCRIPT), command, self.url(side), *rest]

    # -- databases -------------------------------------------------------------------------

    def create_databases(self) -> None:
        for name in self.databases.values():
            admin(
                self.server,
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'CREATE DATABASE "{name}"',
            )
        for side in ("ours", BASELINE) if self.baseline is not None else ("ours",):
            url = self.url(side).replace("postgresql://", "postgresql+asyncpg://", 1)
            migrate = f"from app.db.migrations import upgrade_to_head; upgrade_to_head({url!r})"
            run = [sys.executable, "-c", migrate]
            subprocess.run(run, env=self.env(side), check=True, cwd=self.work, capture_output=True)
        admin(self.server, "CREATE EXTENSION pg_walinspect", database=self.databases["tools"])
        subprocess.run(
            self.command("peer", "schema"), env=self.env("peer"), check=True, cwd=self.work
        )

    def drop_databases(self) -> None:
        for name in self.databases.values():
            admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def commits(self, side: str) -> int:
        connection = await asyncpg.connect(self.url(side))
        try:
            value = await connection.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        finally:
            await connection.close()
        return int(value)

    # -- 1. throughput ---------------------------------------------------------------------

    async def drain(self, side: str, n: int, concurrency: int) -> dict[str, Any]:
        tools = await asyncpg.connect(self.url("tools"))
        try:
            # A temporary slot keeps the run's WAL until it is read (it goes with the session).
            slot = f"bench_queue_{os.getpid()}"
            await tools.execute("SELECT pg_create_physical_replication_slot($1, true, true)", slot)
            result = await self._drain(side, n, concurrency)
            database_oid = await tools.fetchval(
                "SELECT oid FROM pg_database WHERE datname = $1", self.databases[side]
            )
            wal_bytes = await tools.fetchval(
                WAL_OF_DATABASE, result["wal_before"], result["wal_after"], f"%/{database_oid}/%"
            )
        finally:
            await tools.close()
        await asyncio.sleep(STATS_SETTLE_S)
        # The commit count after every backend of the run has exited (and flushed its stats).
        commits = await self.commits(side) - result["commits_before"]
        return {
            "jobs_per_s": n / result["work_s"],
            "work_s": result["work_s"],
            "wal_bytes_per_job": int(wal_bytes) / n,
            "cluster_wal_bytes_per_job": (result["wal_after"] - result["wal_before"]) / n,
            "commits_per_job": commits / n,
        }

    async def _drain(self, side: str, n: int, concurrency: int) -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            *self.command(side, "drain", n, concurrency),
            env=self.env(side),
            cwd=self.work,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), DRAIN_TIMEOUT_S)
        if process.returncode != 0:
            raise SystemExit(f"{side} drain failed:\n{stdout.decode()}\n{stderr.decode()}")
        result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        if result["done"] != n:
            raise SystemExit(
                f"{side}: {result['done']} of {n} jobs completed: {result['statuses']}"
            )
        if side != "peer" and result["events"] != 3 * n:  # queued, started, completed
            raise SystemExit(f"{side}: {result['events']} events for {n} jobs, not {3 * n}")
        return result

    # -- 2. latency ------------------------------------------------------------------------

    def latency(self, side: str, mode: str, n: int, interval_ms: int) -> dict[str, Any]:
        run_dir = Path(tempfile.mkdtemp(dir=self.work, prefix=f"{side}-{mode}-"))
        out = run_dir / "started.txt"
        log = (run_dir / "worker.log").open("w")
        if side == "ours":
            notify = "true" if mode == "notify" else "false"
            env = self.env(
                side,
                DATABASE_URL=self.url("ours"),
                MONEYPRINTER_DATA_DIR=str(run_dir / "data"),
                MONEYPRINTER_LISTEN_NOTIFY=notify,
                BENCH_LAT_FILE=str(out),
            )
            worker_command = [sys.executable, "-m", "bench.queue.stamp_worker"]
        else:
            env = self.env(side)
            worker_command = self.command(
                "peer", "worker", 1, out, *(["poll"] if mode == "poll" else [])
            )
        worker = subprocess.Popen(worker_command, env=env, cwd=run_dir, stdout=log, stderr=log)
        try:
            subprocess.run(
                self.command(side, "latency", n, interval_ms, out),
                env=self.env(side),
                cwd=run_dir,
                check=True,
                capture_output=True,
                timeout=DRAIN_TIMEOUT_S,
            )
        finally:
            stop(worker, timeout_s=STOP_TIMEOUT_S)
            log.close()
        return latencies(out)


def admin(server: str, *statements: str, database: str = "postgres") -> None:
    async def run() -> None:
        connection = await asyncpg.connect(f"{server}/{database}")
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def latencies(out: Path) -> dict[str, list[float]]:
    """Per job, ms from just after the enqueue commit, and from before the INSERT, to its start."""
    enqueued = dict(line.split() for line in Path(f"{out}.enqueued").read_text().splitlines())
    after_commit, before_insert = [], []
    for line in out.read_text().splitlines():
        job_id, started, before = line.split()
        if job_id in enqueued:  # not the warm-up job
            after_commit.append((float(started) - float(enqueued[job_id])) * 1000)
            before_insert.append((float(started) - float(before)) * 1000)
    if len(after_commit) != len(enqueued):
        raise SystemExit(f"{out}: {len(after_commit)} of {len(enqueued)} jobs recorded")
    return {"after_commit_ms": after_commit, "before_insert_ms": before_insert}


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values)}


# -- the run ---------------------------------------------------------------------------------


def in_turn(sides: list[str], turn: int) -> list[str]:
    """The sides, rotated by `turn`: each goes first as often, so drift favours none."""
    start = turn % len(sides)
    return sides[start:] + sides[:start]


def run_throughput(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    sides = [*args.sides, *([BASELINE] if args.baseline else [])]
    runs: dict[str, dict[int, list[dict[str, float]]]] = {
        side: {c: [] for c in args.concurrency} for side in sides
    }
    for round_ in range(args.rounds):
        for index, concurrency in enumerate(args.concurrency):
            for side in in_turn(sides, round_ + index):
                result = asyncio.run(bench.drain(side, args.jobs, concurrency))
                runs[side][concurrency].append(result)
                print(
                    f"round {round_ + 1} drain {side:4} c={concurrency:<2} "
                    f"{result['jobs_per_s']:7.0f} jobs/s  "
                    f"{result['wal_bytes_per_job']:6.0f} B WAL/job  "
                    f"{result['commits_per_job']:.2f} commits/job",
                    flush=True,
                )
    medians = {
        side: {str(c): median_of(results) for c, results in per_c.items()}
        for side, per_c in runs.items()
    }
    return {
        "runs": {s: {str(c): r for c, r in v.items()} for s, v in runs.items()},
        "medians": medians,
    }


def run_latency(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        side: {mode: {"after_commit_ms": [], "before_insert_ms": []} for mode in MODES}
        for side in SIDES
    }
    rounds: list[dict[str, Any]] = []
    for round_ in range(args.latency_rounds):
        for index, mode in enumerate(MODES):
            for side in in_turn(list(SIDES), round_ + index):
                result = bench.latency(side, mode, args.latency_jobs, args.interval_ms)
                for key, values in result.items():
                    samples[side][mode][key].extend(values)
                figures = percentiles(result["after_commit_ms"])
                rounds.append({"round": round_ + 1, "side": side, "mode": mode, **figures})
                print(
                    f"round {round_ + 1} latency {side:4} {mode:6} "
                    + " ".join(f"{k} {v:.1f} ms" for k, v in figures.items()),
                    flush=True,
                )
    summary = {
        side: {
            mode: {key: percentiles(values) for key, values in per_mode.items()}
            for mode, per_mode in per_side.items()
        }
        for side, per_side in samples.items()
    }
    return {"summary": summary, "rounds": rounds}


def run_video(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    completed = subprocess.run(
        bench.command("ours", "video", args.video_jobs),
        env=bench.env("ours"),
        cwd=bench.work,
        capture_output=True,
        text=True,
        timeout=DRAIN_TIMEOUT_S,
    )
    if completed.returncode != 0:
        raise SystemExit(f"video jobs failed:\n{completed.stdout}\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    print(
        f"video: claim → first progress event, median of {args.video_jobs}: "
        f"{result['median_claim_to_first_progress_ms']:.0f} ms",
        flush=True,
    )
    return result


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"Machine: {machine['nproc']} cores, {machine['postgres']}, procrastinate "
        f"{machine['procrastinate']}; {results['setup']}.",
        "",
    ]
    if "throughput" in results:
        runs = results["throughput"]["runs"]
        if "peer" in runs:
            lines += [*comparison(runs, "ours", "peer", ("ours", "procrastinate")), ""]
        if BASELINE in runs:
            lines += [*comparison(runs, "ours", BASELINE, ("after", "before")), ""]
    if "latency" in results:
        summary = results["latency"]["summary"]
        lines += [
            "| pickup latency, ms (from just after the enqueue commit) | p50 | p95 | p99 | max "
            "| p50 from before the INSERT |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for mode in MODES:
            for side, label in (("ours", "ours"), ("peer", "procrastinate")):
                after = summary[side][mode]["after_commit_ms"]
                before = summary[side][mode]["before_insert_ms"]
                lines.append(
                    f"| {label}, {mode} | {after['p50']:.1f} | {after['p95']:.1f} "
                    f"| {after['p99']:.1f} | {after['max']:.1f} | {before['p50']:.1f} |"
                )
        lines.append("")
    if "video" in results:
        video = results["video"]
        per_job = ", ".join(f"{j['claim_to_first_progress_ms']:.0f}" for j in video["jobs"])
        lines.append(
            f"Video job (draft, short script, espeak, no LLM), claim → first progress event: "
            f"median {video['median_claim_to_first_progress_ms']:.0f} ms of {video['n']} "
            f"({per_job} ms); claim → completed: median "
            f"{video['median_claim_to_completed_s']:.1f} s."
        )
    return "\n".join(lines) + "\n"


def comparison(
    runs: dict[str, dict[str, list[dict[str, float]]]],
    side: str,
    other: str,
    names: tuple[str, str],
) -> list[str]:
    """A markdown table of two sides' drains, one row per concurrency: medians over the rounds,
    and the median of each round's ratio (the two ran minutes apart in a round)."""
    a, b = names
    rows = [
        f"| concurrency | {a} jobs/s | {b} jobs/s | {a} / {b} | per-round {a} / {b} "
        f"| WAL B/job {a} / {b} | commits/job {a} / {b} |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c, mine_runs in runs[side].items():
        theirs_runs = runs[other][c]
        mine, theirs = median_of(mine_runs), median_of(theirs_runs)
        per_round = statistics.median(
            m["jobs_per_s"] / t["jobs_per_s"] for m, t in zip(mine_runs, theirs_runs, strict=True)
        )
        rows.append(
            f"| {c} | {mine['jobs_per_s']:,.0f} | {theirs['jobs_per_s']:,.0f} "
            f"| {mine['jobs_per_s'] / theirs['jobs_per_s']:.2f}× | {per_round:.2f}× "
            f"| {mine['wal_bytes_per_job']:,.0f} / {theirs['wal_bytes_per_job']:,.0f} "
            f"| {mine['commits_per_job']:.2f} / {theirs['commits_per_job']:.2f} |"
        )
    return rows


def machine(peer_python: str) -> dict[str, str]:
    version = subprocess.run(
        [peer_python, "-c", "import importlib.metadata as m; print(m.version('procrastinate'))"],
        capture_output=True,
        text=True,
    )
    if version.returncode != 0:
        raise SystemExit(PEER_SETUP.format(python=peer_python))
    return {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "procrastinate": version.stdout.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server",
        default="postgresql://postgres@127.0.0.1:5432",
        help="Postgres server (no database): each side gets a fresh one on it",
    )
    parser.add_argument("--peer-python", default="/tmp/peer-venv/bin/python")
    parser.add_argument("--parts", default="throughput,latency,video")
    parser.add_argument(
        "--sides", type=lambda s: s.split(","), default=list(SIDES), help="throughput only"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (e.g. `git archive`d): its worker drains too",
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="no-op jobs per drain")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 4, 16]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--interval-ms", type=int, default=20)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--video-jobs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: the databases are dropped and the running side is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {"machine": machine(args.peer_python)}
    results["setup"] = (
        f"{args.jobs} jobs per drain, {args.rounds} rounds; latency {args.latency_jobs} jobs "
        f"{args.interval_ms} ms apart × {args.latency_rounds} rounds"
    )
    bench = Bench(args.server, args.peer_python, args.baseline)
    bench.create_databases()
    try:
        results["machine"]["postgres"] = postgres_version(bench)
        if "throughput" in parts:
            results["throughput"] = run_throughput(bench, args)
        if "latency" in parts:
            results["latency"] = run_latency(bench, args)
        if "video" in parts:
            results["video"] = run_video(bench, args)
    finally:
        bench.drop_databases()
    report = markdown(results)
    print(report)
    args.output.mkdir(exist_ok=True)
    (args.output / "queue.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (args.output / "queue.md").write_text(report, encoding="utf-8")


def postgres_version(bench: Bench) -> str:
    async def read() -> str:
        connection = await asyncpg.connect(bench.url("ours"))
        try:
            return str(await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()

    return "Postgres " + asyncio.run(read())


if __name__ == "__main__":
    main()
