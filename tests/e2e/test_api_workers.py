"""`moneyprinter api --workers 2` as a real process: two API processes share the port, queue jobs
into one database, log in the CLI's format, and stop together on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.processes import free_port, moneyprinter_command

START_TIMEOUT_S = 90.0  # each worker imports the app; slow on a busy host
EXIT_TIMEOUT_S = 20.0
SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


def test_api_workers_share_the_port_and_the_database(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
    }
    command = [*moneyprinter_command(), "api", "--host", "127.0.0.1", "--port", str(port)]
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", "2"], cwd=tmp_path, env=env, stdout=log, stderr=log
        )
    try:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            _wait_until_both_workers_serve(process, log_path)

            def post(number: int) -> httpx.Response:
                body = {"videoSubject": f"subject {number}", "script": SCRIPT}
                return client.post("/api/generate", json=body)

            with ThreadPoolExecutor(max_workers=8) as pool:
                responses = list(pool.map(post, range(40)))

            assert [r.status_code for r in responses] == [200] * 40
            listed = client.get("/api/jobs", params={"limit": 1}).json()
            assert listed["total"] == 40
        process.send_signal(signal.SIGTERM)
        assert process.wait(EXIT_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log_text = log_path.read_text("utf-8", "replace")
    served_by = set(re.findall(r"\[uvicorn\.error\] Started server process \[(\d+)\]", log_text))
    assert len(served_by) == 2, log_text
    access_lines = re.findall(r"^\S+ \S+ INFO \[uvicorn\.access\] .*POST /api/generate", log_text,
                              re.MULTILINE)  # fmt: skip
    assert len(access_lines) == 40, log_text


def _wait_until_both_workers_serve(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text("utf-8", "replace")
        if log_path.read_text("utf-8", "replace").count("Application startup complete") >= 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"the workers did not start:\n{log_path.read_text('utf-8', 'replace')}")
