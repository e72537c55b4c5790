"""`make demo`: queue a short video on MoneyPrinter and follow it until it ends.

Talks to the server at MONEYPRINTER_HOST:MONEYPRINTER_PORT on this machine when one answers there
(`make run` in another terminal); otherwise starts `moneyprinter serve` for the length of the
demo. Prints the video's path and exits 0 when the job completes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import httpx

from app.client import ApiError, MoneyPrinterClient, StreamEnd
from app.client.config import ClientSettings
from app.domain import Quality
from app.settings import Settings

SCRIPT = (
    "Octopuses have three hearts and blue blood. "
    "Each of their eight arms can taste what it touches. "
    "And they solve puzzles that stump most other animals."
)
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 40.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", default="Why octopuses are smart")
    parser.add_argument("--script", default=SCRIPT, help="the narration text")
    parser.add_argument("--quality", default="standard", choices=get_args(Quality))
    args = parser.parse_args()

    # This machine's server (never MONEYPRINTER_URL): the demo may start it, and prints the
    # video's path in this machine's data folder.
    server_settings, client_settings = Settings(), ClientSettings(url="")
    base_url = client_settings.server_url
    server = None if answers(base_url) else start_server(base_url)
    try:
        with MoneyPrinterClient(base_url, api_key=client_settings.api_key) as client:
            request = {"videoSubject": args.subject, "script": args.script, "quality": args.quality}
            job_id = client.submit(request)
            print(f"demo: queued job {job_id}")
            follow(client, job_id)
            return report(client, job_id, data_dir=server_settings.data_dir)
    except ApiError as exc:
        raise SystemExit(f"demo: {exc}") from None
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


def follow(client: MoneyPrinterClient, job_id: str) -> None:
    """Print the job's events (all but the progress ticks) until its final state."""
    for item in client.follow(job_id):
        if isinstance(item, StreamEnd):
            return
        if item.type != "progress":
            print(f"  {item.type:>8}  {item.message}")


def report(client: MoneyPrinterClient, job_id: str, *, data_dir: Path) -> int:
    job = client.get_job(job_id)
    if job["state"] != "completed":
        print(f"demo: job {job['state']}: {job['errorMessage'] or 'no message'}")
        return 1
    print(f"demo: done: {(data_dir / job['resultPath']).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
