"""Several machines: what keeping a job's files in a bucket costs, side by side with the data
folder. (1) The time a worker spends storing a 60 s short's files against the job's whole time;
(2) the time to the first byte of a ranged read of the video through the API.

Per variant and round, from scratch: a new data folder (and SQLite database), `moneyprinter
api`, one job queued (script given, `llm_provider=none`, espeak-ng, about 60 s of narration),
then `moneyprinter worker`, stopped once the job has ended. Job time is the job's `startedAt` →
`completedAt`; storing time is the "Stored …" event's `s` (the worker uploads before it records
the job as completed, so it is inside the job time). The local variant stores nothing: its
storing time is 0 by construction. Then, the worker stopped, ranged reads of the video over HTTP
(httpx, one keep-alive connection): `Range: bytes=1000000-` and `bytes=0-1023`, alternating,
after a warm-up; each timed from the request to the first body chunk, and to the last. For the
bucket, the same reads are then made from this process with the API's own call
(`ObjectStore.read`), no API between, to show what the store itself takes.

Variants: `local` (MONEYPRINTER_STORAGE_URL empty, the files stay in the data folder) and
`bucket` (`s3://<fresh bucket>/bench` on moto's standalone S3 server, one process on loopback for
the whole run; the worker deletes its scratch copy, so the API reads the bucket). Variants
alternate in order from round to round.

Run: `.venv/bin/python -m bench.several_hosts [--rounds 3] [--requests 50] [--quality standard]`.
Results: `bench/several_hosts/results/several_hosts.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.storage import ObjectStore
from bench.common import (
    Server,
    cpu_ticks,
    median_of,
    parse_time,
    spawn,
    start_api,
    stop,
    wait_until_quiet,
)
from tests.support.s3 import aws_environment, aws_variables, new_bucket, object_keys, s3_server

RESULTS = Path(__file__).resolve().parent / "results"
JOB_TIMEOUT_S = 900.0
POLL_S = 0.5
WARMUP_REQUESTS = 5
VARIANTS = ("local", "bucket")
RANGES = {"from_1MB": "bytes=1000000-", "first_1KiB": "bytes=0-1023"}
STORE_SHARE_TARGET = 0.05
TTFB_TARGET_MS = 100.0
# 181 words: about 60 s of espeak-ng at the narration's 165 words a minute, with the pauses.
SCRIPT = (
    "Octopuses have three hearts and blue blood. Two hearts pump blood to the gills, and the "
    "third sends it to the rest of the body. When an octopus swims, that third heart stops, "
    "which is why they prefer to crawl. Their blood carries oxygen with copper instead of iron, "
    "which works better in cold water with little oxygen. Most of their neurons are not in the "
    "brain at all but in the arms, and each arm can taste what it touches. An octopus can change "
    "the colour and the texture of its skin in a fraction of a second, although it is colour "
    "blind. They solve puzzles, open jars from the inside, and recognise the people who feed "
    "them. Some carry coconut shells to hide in later, and a few walk along the sea floor on two "
    "arms, disguised as a clump of algae. Most species live only a year or two, and "
    "a mother guards her eggs until they hatch, eating nothing at all, then dies soon after. "
    "Next time you see one, count its hearts: all three of them."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50, help="timed reads per range")
    parser.add_argument("--quality", default="standard")
    parser.add_argument(
        "--quiet-wait", type=float, default=300, help="most seconds to wait for other work to stop"
    )
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    samples: dict[str, dict[str, list[float]]] = {
        variant: {name: [] for name in RANGES} for variant in VARIANTS
    }
    with s3_server() as endpoint:
        for round_number in range(args.rounds):
            order = VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                others_busy = wait_until_quiet(max_wait_s=args.quiet_wait)
                result, ttfbs = run_variant(args, variant, endpoint)
                result["others_busy_pct"] = 100 * others_busy
                runs[variant].append(result)
                for name, values in ttfbs.items():
                    samples[variant][name].extend(values)
                print(f"round {round_number + 1} {variant}: {json.dumps(result)}", flush=True)
    report(args, runs, samples)


def run_variant(
    args: argparse.Namespace, variant: str, endpoint: str
) -> tuple[dict[str, float], dict[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-hosts-{variant}-") as scratch:
        folder = Path(scratch)
        bucket = new_bucket(endpoint) if variant == "bucket" else ""
        storage = {"MONEYPRINTER_STORAGE_URL": f"s3://{bucket}/bench" if bucket else ""}
        if bucket:
            storage.update(aws_environment(endpoint))
        server = start_api(folder, env={"MONEYPRINTER_TTS_PROVIDER": "espeak", **storage})
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                job = run_job(server, client, args.quality)
                result = job_figures(client, job)
                check_where(folder, endpoint, bucket, job["id"])
                size = int(result["video_bytes"])
                ttfbs, totals = ranged_reads(client, job["id"], size, args.requests)
        finally:
            stop(server.api, timeout_s=15)
        if bucket:
            url, key = storage["MONEYPRINTER_STORAGE_URL"], job["resultPath"]
            with aws_variables(endpoint):
                alone = asyncio.run(store_reads(url, key, size, args.requests))
    for name in RANGES:
        ordered = sorted(ttfbs[name])
        result[f"{name}_ttfb_p50_ms"] = statistics.median(ordered)
        result[f"{name}_ttfb_p95_ms"] = percentile(ordered, 0.95)
        result[f"{name}_total_p50_ms"] = statistics.median(totals[name])
        if bucket:
            result[f"{name}_store_ttfb_p50_ms"] = statistics.median(alone[name])
    return result, ttfbs


# -- the job -----------------------------------------------------------------------------------


def run_job(server: Server, client: httpx.Client, quality: str) -> dict[str, Any]:
    body = {"videoSubject": "Octopuses", "script": SCRIPT, "quality": quality}
    response = client.post("/api/generate", json=body)
    response.raise_for_status()
    job_id = response.json()["jobId"]
    busy_before, ours_before = busy_cpu_s(), tree_cpu_s()
    worker = spawn(server.folder, server.env, ["worker", "--concurrency", "1"], "worker.log")
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()["job"]
            if job["state"] in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job_id} did not end in {JOB_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        # Read while the worker lives: its rusage holds its child's and the child's ffmpegs'.
        job["others_cpu_s"] = (busy_cpu_s() - busy_before) - (tree_cpu_s() - ours_before)
    finally:
        stop(worker, timeout_s=30)
    if job["state"] != "completed":
        log = (server.folder / "worker.log").read_text()[-4000:]
        raise SystemExit(f"job {job_id} {job['state']}: {job['errorMessage']}\n{log}")
    return job


def job_figures(client: httpx.Client, job: dict[str, Any]) -> dict[str, float]:
    job_s = (parse_time(job["completedAt"]) - parse_time(job["startedAt"])).total_seconds()
    events = all_events(client, job["id"])
    stored = [e for e in events if (e["payload"] or {}).get("store")]
    store_s = float(stored[-1]["payload"]["s"]) if stored else 0.0
    stored_bytes = float(stored[-1]["payload"]["bytes"]) if stored else 0.0
    artifacts = client.get(f"/api/jobs/{job['id']}/artifacts").json()["artifacts"]
    video = next(a for a in artifacts if a["kind"] == "video")
    return {
        "job_s": job_s,
        "store_s": store_s,
        "store_share": store_s / job_s,
        "stored_mb": stored_bytes / 1e6,
        "files": float(len(artifacts)),
        "video_bytes": float(video["bytes"]),
        "video_mb": video["bytes"] / 1e6,
        "video_s": float((video["media"] or {}).get("durationS", 0.0)),
        "others_cpu_s": float(job["others_cpu_s"]),
    }


def all_events(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client.get(f"/api/jobs/{job_id}/events", params={"after": after}).json()
        if not page["events"]:
            return events
        events.extend(page["events"])
        after = page["lastEventId"]


def check_where(folder: Path, endpoint: str, bucket: str, job_id: str) -> None:
    """The video is where the variant says: in the data folder, or only in the bucket."""
    local = list((folder / "data" / "jobs" / job_id).rglob("video.mp4"))
    if bucket:
        keys = object_keys(endpoint, bucket)
        if local or not any(key.endswith("/video.mp4") for key in keys):
            raise SystemExit(f"bucket variant: local copies {local}, bucket keys {keys}")
    elif not local:
        raise SystemExit("local variant: no video.mp4 in the data folder")


# -- the ranged reads --------------------------------------------------------------------------


def ranged_reads(
    client: httpx.Client, job_id: str, size: int, requests: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Milliseconds to the first body chunk, and to the last, of each timed read per range."""
    url = f"/api/jobs/{job_id}/video"
    ttfbs: dict[str, list[float]] = {name: [] for name in RANGES}
    totals: dict[str, list[float]] = {name: [] for name in RANGES}
    for n in range(WARMUP_REQUESTS + requests):
        for name, value in RANGES.items():
            first, last = ranged_read(client, url, value, size)
            if n >= WARMUP_REQUESTS:
                ttfbs[name].append(first)
                totals[name].append(last)
    return ttfbs, totals


async def store_reads(url: str, key: str, size: int, requests: int) -> dict[str, list[float]]:
    """The same reads straight from the bucket, the API's own call (`ObjectStore.read`) made
    from this process, with no API between: milliseconds to the first chunk, what the store
    itself takes."""
    store = ObjectStore(url)
    ttfbs: dict[str, list[float]] = {name: [] for name in RANGES}
    for n in range(WARMUP_REQUESTS + requests):
        for name, value in RANGES.items():
            start, end, expected = bounds(value, size)
            started = time.perf_counter()
            part = await store.read(key, start, end)
            first = 0.0
            received = 0
            async for chunk in part.chunks:
                first = first or time.perf_counter()
                received += len(chunk)
            if received != expected:
                raise SystemExit(f"{value} from the store: {received} bytes of {expected}")
            if n >= WARMUP_REQUESTS:
                ttfbs[name].append((first - started) * 1000)
    return ttfbs


def bounds(value: str, size: int) -> tuple[int, int | None, int]:
    """`bytes=a-b` or `bytes=a-`: the first byte, the end (exclusive) or None, and the length."""
    first, _, last = value.removeprefix("bytes=").partition("-")
    end = int(last) + 1 if last else None
    return int(first), end, (end or size) - int(first)


def ranged_read(client: httpx.Client, url: str, value: str, size: int) -> tuple[float, float]:
    _, _, expected = bounds(value, size)
    started = time.perf_counter()
    first = 0.0
    received = 0
    with client.stream("GET", url, headers={"Range": value}) as response:
        for chunk in response.iter_raw():
            first = first or time.perf_counter()
            received += len(chunk)
    ended = time.perf_counter()
    if response.status_code != 206 or received != expected:
        raise SystemExit(f"{value}: {response.status_code}, {received} bytes of {expected}")
    return (first - started) * 1000, (ended - started) * 1000


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the processes -----------------------------------------------------------------------------


def busy_cpu_s() -> float:
    """CPU seconds every process on the machine has used since boot (from /proc/stat)."""
    return cpu_ticks()[0] / os.sysconf("SC_CLK_TCK")


def tree_cpu_s() -> float:
    """CPU seconds of this process and its descendants (the API, moto, the worker), with those
    of the processes each has waited for."""
    total = 0.0
    root = psutil.Process()
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


# -- the report --------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, float]]],
    samples: dict[str, dict[str, list[float]]],
) -> None:
    medians = {variant: median_of(results) for variant, results in runs.items()}
    pooled = {
        variant: {
            name: {
                "p50_ms": statistics.median(values),
                "p95_ms": percentile(sorted(values), 0.95),
                "max_ms": max(values),
            }
            for name, values in by_range.items()
        }
        for variant, by_range in samples.items()
    }
    command = shlex.join([".venv/bin/python", "-m", "bench.several_hosts", *sys.argv[1:]])
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
    summary = {
        "command": command,
        "machine": {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "ffmpeg": ffmpeg.stdout.splitlines()[0] if ffmpeg.stdout else "",
            "moto": version("moto"),
            "obstore": version("obstore"),
        },
        "rounds": args.rounds,
        "requests_per_range": args.requests,
        "warmup_requests_per_range": WARMUP_REQUESTS,
        "quality": args.quality,
        "ranges": RANGES,
        "medians": medians,
        "ttfb_all_requests": pooled,
        "runs": runs,
        "ttfb_samples_ms": samples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "several_hosts.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(args, command, summary["machine"], medians, pooled, runs)
    (RESULTS / "several_hosts.md").write_text(text)
    print(text)


def markdown(
    args: argparse.Namespace,
    command: str,
    machine: dict[str, Any],
    medians: dict[str, dict[str, float]],
    pooled: dict[str, dict[str, dict[str, float]]],
    runs: dict[str, list[dict[str, float]]],
) -> str:
    jobs = [
        "| Variant | job s | storing s | storing / job | stored MB | video s | video MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        m = medians[variant]
        jobs.append(
            f"| {variant} | {m['job_s']:.1f} | {m['store_s']:.2f} | {m['store_share']:.1%} "
            f"| {m['stored_mb']:.1f} | {m['video_s']:.1f} | {m['video_mb']:.1f} |"
        )
    reads = [
        "| Variant | Range | first byte p50 ms | p95 ms | all requests: p50 / p95 / max ms "
        "| whole body p50 ms | the store alone: first byte p50 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        m = medians[variant]
        for name, value in RANGES.items():
            p = pooled[variant][name]
            key = f"{name}_store_ttfb_p50_ms"
            alone = f"{m[key]:.1f}" if key in m else "–"
            reads.append(
                f"| {variant} | `{value}` | {m[f'{name}_ttfb_p50_ms']:.1f} "
                f"| {m[f'{name}_ttfb_p95_ms']:.1f} "
                f"| {p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['max_ms']:.1f} "
                f"| {m[f'{name}_total_p50_ms']:.1f} "
                f"| {alone} |"
            )
    rounds = [
        "| Round | Variant | job s | storing s | storing / job | CPUs busy before, % "
        "| others' CPU s during the job |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        for number, run in enumerate(runs[variant], start=1):
            rounds.append(
                f"| {number} | {variant} | {run['job_s']:.1f} | {run['store_s']:.2f} "
                f"| {run['store_share']:.1%} | {run['others_busy_pct']:.0f} "
                f"| {run['others_cpu_s']:.1f} |"
            )
    share = medians["bucket"]["store_share"]
    worst_p95 = max(medians[v][f"{name}_ttfb_p95_ms"] for v in VARIANTS for name in RANGES)
    targets = [
        "| Target | Status |",
        "|---|---|",
        f"| storing < {STORE_SHARE_TARGET:.0%} of the job's time (bucket) "
        f"| {'met' if share < STORE_SHARE_TARGET else 'NOT met'}: {share:.2%} |",
        f"| ranged read, first byte < {TTFB_TARGET_MS:.0f} ms on loopback (p95, both variants) "
        f"| {'met' if worst_p95 < TTFB_TARGET_MS else 'NOT met'}: worst p95 {worst_p95:.1f} ms |",
    ]
    return "\n".join(
        [
            f"# Several machines: storing and ranged reads (medians of {args.rounds} rounds)",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine['cores']} cores, Python {machine['python']}, {machine['ffmpeg']}, "
            f"moto {machine['moto']} (S3 on loopback), obstore {machine['obstore']}. Quality "
            f"`{args.quality}`; {args.requests} timed reads per range and round after "
            f"{WARMUP_REQUESTS} of warm-up, one keep-alive connection.",
            "",
            'Job time is `startedAt` → `completedAt`; storing time is the "Stored …" event\'s '
            "`s`. The local variant stores nothing (its files stay where the render wrote them): "
            "its storing time is 0 by construction. Others' CPU s: what the machine's CPUs "
            "spent (/proc/stat) from the worker's start to the job's end, less this harness's "
            "process tree (API, moto, worker, renders): other work on the shared cores.",
            "",
            *jobs,
            "",
            *rounds,
            "",
            "Ranged reads of `GET /api/jobs/{id}/video` (first byte: request sent → first body "
            "chunk; medians over rounds of each round's p50 and p95, then every request pooled; "
            "the store alone: the API's own call, `ObjectStore.read`, made from the harness after "
            "the API has stopped, no HTTP hop of ours):",
            "",
            *reads,
            "",
            *targets,
            "",
        ]
    )


if __name__ == "__main__":
    main()
