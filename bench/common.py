"""What the benchmark harnesses share: medians of repeated runs, stopping a child process, a
fresh Postgres database for a run, `moneyprinter api` and its worker started from a data folder,
and waiting for the CPUs to be quiet before measuring."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
# Before a measurement, wait for the CPUs to be less busy than QUIET_BUSY, sampled over
# QUIET_SAMPLE_S.
QUIET_BUSY, QUIET_SAMPLE_S = 0.10, 3.0


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


@contextmanager
def fresh_postgres_database(dsn: str, *, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of `dsn` (a `postgresql://…/db` URL whose user may
    create databases); yields its URL, and drops it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres_admin(dsn, f'CREATE DATABASE "{name}"'))
    try:
        base, _, _ = dsn.rpartition("/")
        yield f"{base}/{name}"
    finally:
        asyncio.run(_postgres_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# -- `moneyprinter api` and `worker` from a data folder ------------------------------------------


@dataclass
class Server:
    """A running `moneyprinter api`: its scratch folder (cwd, logs, data), the environment it and
    its workers get, its port and process. One type for the harnesses that also spawn workers."""

    folder: Path
    env: dict[str, str]
    port: int
    api: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    """A loopback port free now (the OS's pick), for a server to bind next."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_api(
    folder: Path,
    *,
    source: Path = REPO,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 60.0,
) -> Server:
    """Migrate, then start `worker.cli api` on a free loopback port, running the code in `source`
    (another checkout, for before/after runs) with its data in `folder`/data, no LLM, and `env`
    on top (database, TTS, storage…); returns once `/api/health` answers. Shared so the
    harnesses that render whole jobs start their servers the same way."""
    port = free_port()
    server_env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "MONEYPRINTER_DATA_DIR": str(folder / "data"),
        "MONEYPRINTER_LLM_PROVIDER": "none",
        **(env or {}),
    }
    subprocess.run(
        [sys.executable, "-m", "worker.cli", "--log-level", "warning", "migrate"],
        cwd=folder,
        env=server_env,
        check=True,
    )
    api = spawn(folder, server_env, ["api", "--host", "127.0.0.1", "--port", str(port)], "api.log")
    server = Server(folder, server_env, port, api)
    deadline = time.monotonic() + startup_timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/api/health").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    stop(server.api, timeout_s=5)
    raise SystemExit(f"the API did not start:\n{(folder / 'api.log').read_text()}")


def spawn(
    folder: Path, env: dict[str, str], arguments: list[str], log_name: str
) -> subprocess.Popen[bytes]:
    """`worker.cli <arguments>` (api, worker…) in `folder`, its output appended to `log_name`
    there: the API and its workers log side by side, read when something fails."""
    with (folder / log_name).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "--log-level", "warning", *arguments],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def parse_time(value: str) -> datetime:
    """A job's timestamp from the API (ISO 8601, `Z` for UTC), for timing jobs from their
    `startedAt` and `completedAt`."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- a quiet machine ------------------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """Clock ticks all CPUs have spent busy, and in all, since boot (/proc/stat's first line;
    idle and iowait are not busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def cpu_busy_fraction(interval_s: float = QUIET_SAMPLE_S) -> float:
    """How busy all CPUs were over `interval_s` (from /proc/stat: 0 idle, 1 saturated)."""
    busy0, total0 = cpu_ticks()
    time.sleep(interval_s)
    busy1, total1 = cpu_ticks()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_until_quiet(*, max_wait_s: float) -> float:
    """Wait (up to `max_wait_s`) until other processes leave the CPUs nearly idle: on a shared
    machine someone else's build or tests would be measured too. Returns the last busy fraction,
    for the report."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = cpu_busy_fraction()
        if busy < QUIET_BUSY or time.monotonic() > deadline:
            return busy
        print(f"  waiting: the CPUs are {100 * busy:.0f}% busy with other work", flush=True)
