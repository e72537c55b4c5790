"""Worker processes for tests: the real CLI and Worker (`python -m tests.support.probe_worker`,
which adds an in-loop `probe` job kind), on the test's database and data folder, logging to a
file; the `spawn` fixture starts them and stops them all at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Short timings (heartbeat 1 s, lease 3 s): a lost worker's job is taken over within seconds.
FAST = {
    "MONEYPRINTER_HEARTBEAT_INTERVAL_S": "1",
    "MONEYPRINTER_LEASE_S": "3",
    "MONEYPRINTER_POLL_INTERVAL_S": "0.2",
    "MONEYPRINTER_CANCEL_CHECK_INTERVAL_S": "0.2",
    "MONEYPRINTER_RETRY_BASE_S": "0.5",
    "MONEYPRINTER_RETRY_CAP_S": "2",
    "MONEYPRINTER_SHUTDOWN_GRACE_S": "5",
}


class WorkerProcess:
    """One `worker` process of the probe CLI, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, *, concurrency: int) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.probe_worker", "worker",
             "--concurrency", str(concurrency)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def owns(self, worker_id: str | None) -> bool:
        """Worker ids are `host:pid:random`."""
        return worker_id is not None and worker_id.split(":")[1] == str(self.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; the exit code (SIGKILL after `timeout_s`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def spawn(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes on the test's database; all are stopped at the end."""
    started: list[WorkerProcess] = []

    def start(
        *, concurrency: int = 1, timings: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> WorkerProcess:  # fmt: skip
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
            "MONEYPRINTER_LLM_PROVIDER": "none",
            "MONEYPRINTER_TTS_PROVIDER": "espeak",
            "PYTHONUNBUFFERED": "1",
            **(FAST if timings is None else timings),
            **(extra or {}),
        }
        worker = WorkerProcess(
            env, tmp_path / f"worker-{len(started)}.log", concurrency=concurrency
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout_s=10)
