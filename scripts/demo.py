"""`make demo`: queue a short video on MoneyPrinter and follow it until it ends.

Talks to the server at MONEYPRINTER_HOST:MONEYPRINTER_PORT when one answers there (`make run` in
another terminal); otherwise starts `moneyprinter serve` for the length of the demo. Prints the
video's path and exits 0 when the job completes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.settings import Settings

SCRIPT = (
    "Octopuses have three hearts and blue blood. "
    "Each of their eight arms can taste what it touches. "
    "And they solve puzzles that stump most other animals."
)
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 40.0
JOB_TIMEOUT_S = 900.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", default="Why octopuses are smart")
    parser.add_argument("--script", default=SCRIPT, help="the narration text")
    parser.add_argument("--quality", default="standard", choices=["draft", "standard", "high"])
    args = parser.parse_args()

    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base_url = f"http://{host}:{settings.port}"
    headers = {"X-API-Key": settings.api_key} if settings.api_key else {}
    server = None if answers(base_url) else start_server(base_url)
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
            job_id = queue(client, subject=args.subject, script=args.script, quality=args.quality)
            follow(client, job_id)
            return report(client, job_id, data_dir=settings.data_dir)
    finally:
        if server is not None:
            stop_server(server)


def answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/api/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(base_url: str) -> subprocess.Popen[bytes]:
    print(f"demo: no server at {base_url}; starting `moneyprinter serve` for the demo")
    server = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "--log-level", "warning", "serve"]
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not answers(base_url):
        if server.poll() is not None:
            raise SystemExit(f"demo: the server exited with code {server.returncode}")
        if time.monotonic() > deadline:
            stop_server(server)
            raise SystemExit(f"demo: the server did not answer within {SERVER_START_TIMEOUT_S} s")
        time.sleep(0.2)
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # graceful: the worker finishes or releases its job
        try:
            server.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def queue(client: httpx.Client, *, subject: str, script: str, quality: str) -> str:
    response = client.post(
        "/api/generate", json={"videoSubject": subject, "script": script, "quality": quality}
    )
    body = response.json()
    if response.status_code != 200:
        raise SystemExit(f"demo: {response.status_code}: {body.get('message', body)}")
    print(f"demo: queued job {body['jobId']}")
    return str(body["jobId"])


def follow(client: httpx.Client, job_id: str) -> None:
    """Print the job's events (all but the progress ticks) from its server-sent event stream
    until the stream ends."""
    event_type = ""
    with client.stream(
        "GET", f"/api/jobs/{job_id}/stream", timeout=httpx.Timeout(30.0, read=JOB_TIMEOUT_S)
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event_type = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event_type == "end":
                return
            elif line.startswith("data:") and event_type != "progress":
                event = json.loads(line.removeprefix("data:"))
                print(f"  {event['type']:>8}  {event['message']}")


def report(client: httpx.Client, job_id: str, *, data_dir: Path) -> int:
    job = client.get(f"/api/jobs/{job_id}").json()["job"]
    if job["state"] != "completed":
        print(f"demo: job {job['state']}: {job['errorMessage'] or 'no message'}")
        return 1
    print(f"demo: done: {(data_dir / job['resultPath']).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
