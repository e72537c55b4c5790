"""Slow-header connections against `moneyprinter serve`: whether /api/health answers while they
are held, and how long the server keeps them open.

Run: `.venv/bin/python -m bench.edge [--connections 1500] [--watch 30] [--source DIR]`; `--source`
runs another checkout's code (e.g. `git archive main | tar -x -C /tmp/main`) for comparison.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench.common import stop

REPO = Path(__file__).resolve().parents[2]
PARTIAL_HEAD = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow"
STARTUP_TIMEOUT_S = 60.0
HEALTH_PROBES = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1500)
    parser.add_argument("--watch", type=float, default=30.0, help="seconds to watch them")
    parser.add_argument("--source", type=Path, default=REPO, help="the code to serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, port = start_server(Path(folder), args.source.resolve())
        try:
            measure(port, psutil.Process(process.pid), args.connections, args.watch)
        finally:
            stop(process, timeout_s=15)


def start_server(folder: Path, source: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(source), "MONEYPRINTER_DATA_DIR": str(folder / "data")}
    command = [sys.executable, "-m", "worker.cli", "--log-level", "warning", "serve"]
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.2)
    stop(process, timeout_s=5)
    raise SystemExit(f"server did not start:\n{(folder / 'server.log').read_text()}")


def measure(port: int, server: psutil.Process, count: int, watch_s: float) -> None:
    opened = time.monotonic()
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(PARTIAL_HEAD)
        held.append(connection)
    print(f"{count} slow-header connections opened in {time.monotonic() - opened:.1f} s")
    statuses, latencies = [], []
    for _ in range(HEALTH_PROBES):
        started = time.monotonic()
        try:
            statuses.append(httpx.get(f"http://127.0.0.1:{port}/api/health").status_code)
        except httpx.TransportError as exc:
            statuses.append(type(exc).__name__)
        latencies.append((time.monotonic() - started) * 1000)
    print(f"/api/health meanwhile: {statuses}, median {statistics.median(latencies):.0f} ms")
    print(f"server RSS while held: {server.memory_info().rss / 2**20:.0f} MiB")
    open_count = watch(held, watch_s, opened)
    print(f"still open after {watch_s:g} s: {open_count} of {count}")
    for connection in held:
        connection.close()


def watch(connections: list[socket.socket], watch_s: float, opened: float) -> int:
    """Prints when the server has closed all of them; returns how many are still open."""
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() < opened + watch_s:
            for key, _ in selector.select(timeout=0.5):
                try:
                    closed = not key.fileobj.recv(4096)  # type: ignore[union-attr]
                except ConnectionResetError:
                    closed = True
                if closed:
                    selector.unregister(key.fileobj)
        if not selector.get_map():
            print(f"all closed by the server {time.monotonic() - opened:.1f} s after opening")
        return len(selector.get_map())


if __name__ == "__main__":
    main()
