"""No-op job benchmark for procrastinate: the peer side of bench/queue (same Postgres, same no-op job).

Usage (DSN via PROCRASTINATE_DSN, default postgresql://postgres@127.0.0.1:5432/bench_procrastinate):
  python bench_procrastinate.py schema                 # apply procrastinate schema once
  python bench_procrastinate.py drain N CONCURRENCY    # burn-down: pre-insert N jobs, time the drain
  python bench_procrastinate.py worker CONCURRENCY OUTFILE [poll]  # long-running worker for latency mode
  python bench_procrastinate.py latency N INTERVAL_MS OUTFILE      # enqueue N jobs one by one, read latencies
"""

# ruff: noqa: E501, ASYNC230 -- the team's script, kept in its own style.
# Copied from the team's ../shared/bench/procrastinate_peer.py; bench/queue changed only what it
# measures, never how procrastinate runs (the worker's arguments are as given):
# - `drain` also prints one JSON line: work time, jobs done, and WAL position and commit count
#   read just before and after the worker ran (bench/queue reads the final commit count once
#   this process has exited, when every backend has flushed its statistics).
# - `stamp` writes its job id with the start time, and `latency` writes each job's wall clock
#   just after `defer_async` returned (its commit) to OUTFILE.enqueued, so the latency can be
#   taken from the commit as well as from before the INSERT (the payload's `t`).
# - `latency` first waits for a warm-up job, and at the end waits until every job has run
#   (timeout 60 s) instead of 1 s: with 5 s polling, a fixed 1 s lost the last jobs' samples.

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time

import procrastinate
import psycopg

DSN = os.environ.get(
    "PROCRASTINATE_DSN", "postgresql://postgres@127.0.0.1:5432/bench_procrastinate"
)

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
LAT_FILE = os.environ.get("BENCH_LAT_FILE", "/tmp/procrastinate_lat.txt")


@app.task(queue="bench", name="noop")
async def noop() -> None:
    return None


@app.task(queue="lat", name="stamp", pass_context=True)
async def stamp(context: procrastinate.JobContext, t: float) -> None:
    # pickup latency: wall clock at job start minus wall clock just after the enqueue commit
    started = time.time()
    assert context.job is not None
    with open(os.environ.get("BENCH_LAT_FILE", LAT_FILE), "a") as fh:
        fh.write(f"{context.job.id} {started:.6f} {t:.6f}\n")


def wal_and_commits() -> dict[str, int]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, xact_commit FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return {"wal_lsn": int(row[0]), "xact_commit": int(row[1])}


def reset(queue: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = %s", (queue,))
        conn.execute("VACUUM ANALYZE procrastinate_jobs")


async def drain(n: int, concurrency: int) -> None:
    reset("bench")
    async with app.open_async():
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            await noop.batch_defer_async(*({} for _ in range(min(1000, n - start))))
        t1 = time.perf_counter()
        # Stats must reflect the seeded backlog, otherwise the planner can pick a
        # pathological plan for procrastinate_fetch_job_v2 (seen: ~5 s per fetch).
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute("ANALYZE procrastinate_jobs")
        before = wal_and_commits()
        t1 = time.perf_counter()
        await app.run_worker_async(
            queues=["bench"],
            concurrency=concurrency,
            wait=False,
            install_signal_handlers=False,
            delete_jobs="never",
        )
        t2 = time.perf_counter()
        after = wal_and_commits()
    with psycopg.connect(DSN) as conn:
        done = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name='bench' AND status='succeeded'"
        ).fetchone()[0]
        statuses = dict(
            conn.execute(
                "SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name='bench'"
                " GROUP BY 1"
            ).fetchall()
        )
    print(
        f"procrastinate drain n={n} concurrency={concurrency}: "
        f"enqueue {n / (t1 - t0):,.0f} jobs/s (batch 1000), "
        f"work {done / (t2 - t1):,.0f} jobs/s ({done} succeeded in {t2 - t1:.2f}s)"
    )
    result = {
        "n": n, "concurrency": concurrency, "work_s": t2 - t1, "done": done,
        "statuses": statuses, "wal_before": before["wal_lsn"], "wal_after": after["wal_lsn"],
        "commits_before": before["xact_commit"],
    }  # fmt: skip
    print(json.dumps(result))


async def worker(concurrency: int, out: str, poll_only: bool) -> None:
    os.environ["BENCH_LAT_FILE"] = out
    async with app.open_async():
        await app.run_worker_async(
            queues=["lat"],
            concurrency=concurrency,
            listen_notify=not poll_only,
            fetch_job_polling_interval=5.0,  # library default; NOTIFY should make this irrelevant
            delete_jobs="never",
        )


def samples(out: str) -> dict[int, float]:
    """Job id -> start time, from the worker's lines."""
    if not os.path.exists(out):
        return {}
    with open(out) as fh:
        return {int(line.split()[0]): float(line.split()[1]) for line in fh if line.strip()}


async def wait_for(out: str, job_ids: set[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not job_ids <= samples(out).keys():
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(job_ids & samples(out).keys())} of {len(job_ids)} ran")
        await asyncio.sleep(0.1)


async def latency(n: int, interval_ms: int, out: str) -> None:
    enqueued: dict[int, float] = {}
    async with app.open_async():
        warm_up = await stamp.configure().defer_async(t=time.time())
        await wait_for(out, {warm_up}, 60.0)
        await asyncio.sleep(1)
        for _ in range(n):
            job = stamp.configure()
            # stamp taken immediately before the INSERT; includes the commit round-trip
            job_id = await job.defer_async(t=time.time())
            enqueued[job_id] = time.time()  # just after the commit
            await asyncio.sleep(interval_ms / 1000)
        await wait_for(out, set(enqueued), 60.0)
    with open(out + ".enqueued", "w") as fh:
        fh.writelines(f"{job_id} {t:.6f}\n" for job_id, t in enqueued.items())
    started = samples(out)
    vals = sorted((started[job_id] - t) * 1000 for job_id, t in enqueued.items())
    if not vals:
        print("no samples")
        return
    q = statistics.quantiles(vals, n=100)
    print(
        f"procrastinate pickup latency n={len(vals)}: p50 {q[49]:.1f} ms, "
        f"p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {vals[-1]:.1f} ms"
    )


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "schema":
        with app.open():
            app.schema_manager.apply_schema()
    elif cmd == "drain":
        asyncio.run(drain(int(sys.argv[2]), int(sys.argv[3])))
    elif cmd == "worker":
        poll = len(sys.argv) > 4 and sys.argv[4] == "poll"
        asyncio.run(worker(int(sys.argv[2]), sys.argv[3], poll))
    elif cmd == "latency":
        asyncio.run(latency(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
