"""What the tests that start real `moneyprinter` processes share: a free port, the command, and a
server started and waited for."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def moneyprinter_command() -> list[str]:
    """The venv's `moneyprinter` script, or `python -m worker.cli` where it is not installed."""
    script = Path(sys.executable).with_name("moneyprinter")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "worker.cli"]


def wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, log_path: Path, *, timeout_s: float
) -> None:
    """Until `GET /api/health` answers 200; fails the test with the server's log when it exits
    or does not answer in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text("utf-8", "replace")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log = log_path.read_text("utf-8", "replace")
    pytest.fail(f"server not healthy after {timeout_s} s:\n{log}")


@contextmanager
def moneyprinter_server(
    command: str, *, cwd: Path, env: dict[str, str], log_path: Path, start_timeout_s: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`moneyprinter <command>` (serve or api) on a free loopback port, its output in `log_path`,
    healthy before the block starts and killed after it; yields the process and the port."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*moneyprinter_command(), command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,  # a folder with no stray .env
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log_path, timeout_s=start_timeout_s)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
