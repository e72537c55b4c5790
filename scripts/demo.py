"""The newcomer's first video: start `moneyprinter serve` (SQLite, offline), queue one job over
HTTP, follow its server-sent events, print where the video is, and stop the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PORT = int(os.environ.get("MONEYPRINTER_PORT", "8080"))
BASE_URL = f"http://127.0.0.1:{PORT}"
JOB = {
    "videoSubject": "Why octopuses are so clever",
    "script": (
        "Octopuses have three hearts and blue blood. Two thirds of their neurons live in their "
        "arms, so each arm can taste and decide on its own. They open jars, escape tanks, and "
        "recognise the people who feed them. Some even carry coconut shells as portable armour."
    ),
}


def wait_for_health(server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"demo: the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{BASE_URL}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    sys.exit("demo: the server did not answer in time")


def follow(job_id: str) -> str:
    """Print the job's events as they come; return its final state."""
    state = "unknown"
    with httpx.stream("GET", f"{BASE_URL}/api/jobs/{job_id}/stream", timeout=None) as response:
        event_type = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event_type = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if event_type == "end":
                    state = data["state"]
                elif event_type != "progress":
                    print(f"  [{data['type']}] {data['message']}")
    return state


def main() -> int:
    server = subprocess.Popen([str(ROOT / ".venv/bin/moneyprinter"), "serve"], cwd=ROOT)
    try:
        wait_for_health(server)
        response = httpx.post(f"{BASE_URL}/api/generate", json=JOB, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            print(f"demo: {body.get('message')}", file=sys.stderr)
            return 1
        job_id = body["jobId"]
        print(f"demo: queued job {job_id}; following it")
        state = follow(job_id)
        job = httpx.get(f"{BASE_URL}/api/jobs/{job_id}", timeout=10).json()["job"]
        if state != "completed":
            print(f"demo: the job ended {state}: {job['errorMessage']}", file=sys.stderr)
            return 1
        data_dir = Path(os.environ.get("MONEYPRINTER_DATA_DIR", "data"))
        print(f"demo: done. The video is {(ROOT / data_dir / job['resultPath']).resolve()}")
        return 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
