"""`moneyprinter serve` as a real process: queue a draft job over HTTP, follow it to the end (events
and the server-sent stream), find the video, then SIGTERM the server and see it exit cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import moneyprinter_server

SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
START_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 20.0


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, data_dir: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.data_dir = data_dir

    def log(self) -> str:
        return Path(self.data_dir.parent / "server.log").read_text("utf-8", "replace")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """The server on each database, healthy: SQLite as a newcomer gets it (DATABASE_URL empty, the
    file in the data folder, migrated by `serve`), and a fresh Postgres database."""
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "MONEYPRINTER_DATA_DIR": str(data_dir),
        "DATABASE_URL": "" if database_url.startswith("sqlite") else database_url,
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
        "MONEYPRINTER_POLL_INTERVAL_S": "0.2",
        "MONEYPRINTER_STREAM_POLL_INTERVAL_S": "0.1",
    }
    with moneyprinter_server(
        "serve",
        cwd=tmp_path,
        env=env,
        log_path=tmp_path / "server.log",
        start_timeout_s=START_TIMEOUT_S,
    ) as (process, port):
        yield Server(process, f"http://127.0.0.1:{port}", data_dir)


def follow_events(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """Poll `/events?after=N` until the job's final state event arrives."""
    events: list[dict[str, Any]] = []
    after = 0
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        body = client.get(f"/api/jobs/{job_id}/events", params={"after": after}).json()
        assert body["status"] == "success"
        events.extend(body["events"])
        after = body["lastEventId"]
        states = [e["payload"]["state"] for e in events if e["type"] == "state"]
        if states and states[-1] in ("completed", "failed", "cancelled"):
            return events
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not finish: {events}")


def read_stream(client: httpx.Client, job_id: str) -> list[tuple[str, str | None, str]]:
    """The stream's messages as (event, id, data) until `event: end`."""
    messages: list[tuple[str, str | None, str]] = []
    fields: dict[str, str] = {}
    with client.stream("GET", f"/api/jobs/{job_id}/stream", timeout=JOB_TIMEOUT_S) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if fields:
                messages.append((fields.get("event", "message"), fields.get("id"), fields["data"]))
                fields = {}
    return messages


def test_serve_runs_a_job_end_to_end_and_stops_on_sigterm(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        response = client.post(
            "/api/generate",
            json={"videoSubject": "octopuses", "script": SCRIPT, "quality": "draft"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "success"
        job_id = response.json()["jobId"]

        events = follow_events(client, job_id)
        messages = read_stream(client, job_id)
        job = client.get(f"/api/jobs/{job_id}").json()["job"]

    states = [e["payload"]["state"] for e in events if e["type"] == "state"]
    assert states == ["queued", "running", "completed"], server.log()
    assert [e["payload"]["stage"] for e in events if e["type"] == "stage"] == [
        "script", "voice", "terms", "footage", "subtitles", "render", "metadata", "qa",
    ]  # fmt: skip
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)

    assert messages[-1][0] == "end"
    assert json.loads(messages[-1][2]) == {"state": "completed"}
    streamed = [json.loads(data) for _event, _id, data in messages[:-1]]
    assert [event["id"] for event in streamed] == ids
    assert [message[1] for message in messages[:-1]] == [str(i) for i in ids]
    assert [message[0] for message in messages[:-1]] == [e["type"] for e in events]

    assert job["state"] == "completed"
    video = server.data_dir / job["resultPath"]
    assert video.is_file() and video.stat().st_size > 10_000

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=EXIT_TIMEOUT_S) == 0, server.log()
    assert "Traceback" not in server.log()
