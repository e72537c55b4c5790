"""Object-store clients side by side, to pick the one the S3 storage backend uses: obstore (Rust,
async) and aiobotocore (botocore on aiohttp), against one S3-compatible server on loopback.

Per client and round: a 50 MB video stored with multipart upload (8 MiB parts, 4 at a time, as
a worker would store a render), then a ranged read of 1 MiB at 20 MiB (as a browser seeking in
the video makes the API read): time to the first byte of the body and to the last. The server is
moto's standalone S3 in a process of its own; each round uses a fresh bucket. Clients alternate
in order from round to round. Reports medians, and each client's process CPU seconds of the
uploads (what a worker pays beside its render).

Run: `uv sync --group bench`, then `.venv/bin/python -m bench.storage [--rounds 5] [--mb 50]`.
Results: `bench/storage/results/clients.{json,md}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import stop

RESULTS = Path(__file__).resolve().parent / "results"
PART_BYTES = 8 * 1024 * 1024
CONCURRENCY = 4
RANGE_START = 20 * 1024 * 1024
RANGE_BYTES = 1024 * 1024
CREDENTIALS = {"key": "bench", "secret": "bench-secret", "region": "us-east-1"}

Measure = Callable[[str, str, Path], Awaitable[dict[str, float]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=50, help="the video's size")
    args = parser.parse_args()
    clients: dict[str, Measure] = {"obstore": measure_obstore, "aiobotocore": measure_aiobotocore}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    with tempfile.TemporaryDirectory() as scratch, s3_server() as url:
        video = Path(scratch) / "video.mp4"
        video.write_bytes(os.urandom(args.mb * 1024 * 1024))
        names = list(clients)
        for round_number in range(args.rounds):
            for name in names if round_number % 2 == 0 else names[::-1]:
                bucket = f"bench-{name}-{round_number}"
                create_bucket(url, bucket)
                result = asyncio.run(clients[name](url, bucket, video))
                runs[name].append(result)
                print(f"round {round_number + 1} {name}: {json.dumps(result)}", flush=True)
    report(args, runs)


# -- the clients -------------------------------------------------------------------------------


async def measure_obstore(url: str, bucket: str, video: Path) -> dict[str, float]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=url,
        access_key_id=CREDENTIALS["key"],
        secret_access_key=CREDENTIALS["secret"],
        region=CREDENTIALS["region"],
        client_options={"allow_http": True},
    )

    async def upload() -> None:
        await obstore.put_async(
            store,
            "jobs/1/video.mp4",
            video,
            use_multipart=True,
            chunk_size=PART_BYTES,
            max_concurrency=CONCURRENCY,
        )

    async def ranged_read() -> tuple[float, float, int]:
        started = time.perf_counter()
        response = await obstore.get_async(
            store,
            "jobs/1/video.mp4",
            options={"range": (RANGE_START, RANGE_START + RANGE_BYTES)},
        )
        first = None
        received = 0
        async for chunk in response.stream():
            first = first or time.perf_counter()
            received += len(chunk)
        return (first or 0) - started, time.perf_counter() - started, received

    return await measure(upload, ranged_read)


async def measure_aiobotocore(url: str, bucket: str, video: Path) -> dict[str, float]:
    from aiobotocore.session import get_session

    session = get_session()
    size = video.stat().st_size  # noqa: ASYNC240 (before anything is timed)
    async with session.create_client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=CREDENTIALS["key"],
        aws_secret_access_key=CREDENTIALS["secret"],
        region_name=CREDENTIALS["region"],
    ) as client:

        async def upload() -> None:
            key = "jobs/1/video.mp4"
            started = await client.create_multipart_upload(Bucket=bucket, Key=key)
            upload_id = started["UploadId"]
            limit = asyncio.Semaphore(CONCURRENCY)

            async def part(number: int, offset: int) -> dict[str, Any]:
                async with limit:
                    data = await asyncio.to_thread(read_part, video, offset)
                    answer = await client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
                    )
                    return {"PartNumber": number, "ETag": answer["ETag"]}

            parts = await asyncio.gather(
                *(
                    part(index + 1, offset)
                    for index, offset in enumerate(range(0, size, PART_BYTES))
                )
            )
            await client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )

        async def ranged_read() -> tuple[float, float, int]:
            started = time.perf_counter()
            end = RANGE_START + RANGE_BYTES - 1
            answer = await client.get_object(
                Bucket=bucket, Key="jobs/1/video.mp4", Range=f"bytes={RANGE_START}-{end}"
            )
            first = None
            received = 0
            async with answer["Body"] as body:
                async for chunk in body.iter_chunks(64 * 1024):
                    first = first or time.perf_counter()
                    received += len(chunk)
            return (first or 0) - started, time.perf_counter() - started, received

        return await measure(upload, ranged_read)


def read_part(path: Path, offset: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(PART_BYTES)


async def measure(
    upload: Callable[[], Awaitable[None]],
    ranged_read: Callable[[], Awaitable[tuple[float, float, int]]],
) -> dict[str, float]:
    cpu = time.process_time()
    started = time.perf_counter()
    await upload()
    upload_s = time.perf_counter() - started
    upload_cpu_s = time.process_time() - cpu
    reads = [await ranged_read() for _ in range(5)]
    if any(received != RANGE_BYTES for _, _, received in reads):
        raise SystemExit(f"a ranged read returned {[r[2] for r in reads]} bytes")
    return {
        "upload_s": upload_s,
        "upload_cpu_s": upload_cpu_s,
        "range_ttfb_ms": statistics.median(r[0] for r in reads) * 1000,
        "range_total_ms": statistics.median(r[1] for r in reads) * 1000,
    }


# -- the server --------------------------------------------------------------------------------


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port, in its own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the S3 server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        stop(server, timeout_s=5)  # type: ignore[arg-type]


def create_bucket(url: str, bucket: str) -> None:
    # moto accepts an unsigned request on loopback.
    response = httpx.put(f"{url}/{bucket}")
    response.raise_for_status()


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, float]]]) -> None:
    medians = {
        name: {key: statistics.median(run[key] for run in results) for key in results[0]}
        for name, results in runs.items()
    }
    RESULTS.mkdir(exist_ok=True)
    summary = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "rounds": args.rounds,
        "video_mb": args.mb,
        "medians": medians,
        "runs": runs,
    }
    (RESULTS / "clients.json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = [
        f"# Object-store clients (moto on loopback, {args.mb} MB video, medians of {args.rounds})",
        "",
        "| Client | upload s | upload CPU s | ranged read: first byte ms | all 1 MiB ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in medians.items():
        rows.append(
            f"| {name} | {m['upload_s']:.2f} | {m['upload_cpu_s']:.2f} | "
            f"{m['range_ttfb_ms']:.1f} | {m['range_total_ms']:.1f} |"
        )
    text = "\n".join([*rows, ""])
    (RESULTS / "clients.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
