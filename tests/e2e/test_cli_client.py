"""`moneyprinter generate | jobs | cancel | retry` as a user runs them: real processes against a
real `moneyprinter serve` (or `api`, when jobs must stay queued), on each database."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.crypto import new_key
from tests.fakes.google import google_server, original_login_files
from tests.support.processes import free_port, moneyprinter_command, moneyprinter_server

SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."
STAGES = ("script", "voice", "terms", "footage", "subtitles", "render", "metadata", "qa")
START_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 120.0
REPO = Path(__file__).resolve().parents[2]
JOB_ID = re.compile(r"Queued job ([0-9a-f-]{36})")


def ffprobe_streams(path: Path) -> dict[str, dict[str, object]]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return {stream["codec_type"]: stream for stream in json.loads(result.stdout)["streams"]}


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


def start_server(
    tmp_path: Path, database_url: str, command: str, **settings: str
) -> Iterator[Server]:
    env = {
        **os.environ,
        "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
        "MONEYPRINTER_LLM_PROVIDER": "none",  # a job without a script fails at once
        "MONEYPRINTER_TTS_PROVIDER": "espeak",
        "MONEYPRINTER_POLL_INTERVAL_S": "0.2",
        "MONEYPRINTER_STREAM_POLL_INTERVAL_S": "0.1",
        **settings,
    }
    log_path = tmp_path / f"{command}.log"
    with moneyprinter_server(
        command, cwd=tmp_path, env=env, log_path=log_path, start_timeout_s=START_TIMEOUT_S
    ) as (process, port):
        yield Server(process, port, log_path)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """`moneyprinter serve`: the API and a worker."""
    yield from start_server(tmp_path, database_url, "serve")


@pytest.fixture
def api_only(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """`moneyprinter api` with no worker anywhere: queued jobs stay queued."""
    yield from start_server(tmp_path, database_url, "api")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "cli"
    path.mkdir()
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The user's environment without this machine's MoneyPrinter settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPRINTER_")}
    return {**env, **extra}


def run_cli(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*moneyprinter_command(), *args],
        cwd=workdir, env=env or cli_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def queued_job_id(stderr: str) -> str:
    match = JOB_ID.search(stderr)
    assert match, stderr
    return match.group(1)


def test_generate_follows_a_draft_job_and_downloads_the_video(
    server: Server, workdir: Path
) -> None:
    # No --url: the default is built from the settings' host and port, as `serve` uses them.
    env = cli_env(MONEYPRINTER_PORT=str(server.port))
    result = run_cli(
        workdir, "generate", "octopuses", "--script", SCRIPT, "--quality", "draft", env=env
    )

    assert result.returncode == 0, result.stderr + server.log()
    job_id = queued_job_id(result.stderr)
    video = workdir / f"{job_id}.mp4"
    assert result.stdout.strip() == video.name
    streams = ffprobe_streams(video)
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (540, 960)
    assert [path.name for path in workdir.iterdir()] == [video.name]  # no partial file left
    for stage in STAGES:
        assert re.search(rf"^\[\s*\d+%\] {stage} ", result.stderr, re.M), result.stderr
    assert "[100%] done      Job completed." in result.stderr
    assert "\r" not in result.stderr  # not a terminal: plain lines
    assert "Traceback" not in result.stderr

    listing = run_cli(workdir, "jobs", "--url", server.url)
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"^{job_id}\s+completed\s+qa\s+100%", listing.stdout, re.M)
    assert listing.stdout.splitlines()[-1] == "1-1 of 1 job(s)"


def test_generate_with_an_api_key_follows_the_stream_and_downloads(
    tmp_path: Path, database_url: str, workdir: Path
) -> None:
    """With a key, reads need it too: the client sends it with every request, the stream and the
    download included."""
    key = "cli-test-key"
    keyed = contextmanager(start_server)
    with keyed(tmp_path, database_url, "serve", MONEYPRINTER_API_KEY=key) as server:
        refused = run_cli(workdir, "jobs", "--url", server.url)
        result = run_cli(
            workdir, "generate", "octopuses", "--script", SCRIPT, "--quality", "draft",
            "-o", "keyed.mp4", "--url", server.url, env=cli_env(MONEYPRINTER_API_KEY=key),
        )  # fmt: skip
        listing = run_cli(workdir, "jobs", "--url", server.url, "--api-key", key)

    assert refused.returncode == 1
    assert refused.stderr == (
        "moneyprinter jobs: API key required: send 'Authorization: Bearer <key>' or "
        "'X-API-Key'. (HTTP 401)\n"
    )
    assert result.returncode == 0, result.stderr + server.log()
    for stage in STAGES:
        assert re.search(rf"^\[\s*\d+%\] {stage} ", result.stderr, re.M), result.stderr
    assert "[100%] done      Job completed." in result.stderr
    assert "video" in ffprobe_streams(workdir / "keyed.mp4")
    job_id = queued_job_id(result.stderr)
    assert re.search(rf"^{job_id}\s+completed\s", listing.stdout, re.M), listing.stderr


def test_a_video_that_cannot_be_saved_is_one_clear_line(server: Server, workdir: Path) -> None:
    (workdir / "blocker").write_text("a file, where -o wants a folder")

    result = run_cli(workdir, "generate", "octopuses", "--script", SCRIPT, "--quality", "draft",
                     "-o", "blocker/video.mp4", "--url", server.url)  # fmt: skip

    assert result.returncode == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("moneyprinter generate: cannot save the video: "), result.stderr
    assert last.endswith("/video"), last  # where the video can still be fetched
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in workdir.iterdir()) == ["blocker"]


def test_generate_shows_the_servers_refusal(server: Server, workdir: Path) -> None:
    result = run_cli(workdir, "generate", "octopuses", "--song", "nonexistent.mp3",
                     "--url", server.url)  # fmt: skip

    assert result.returncode == 1
    assert result.stderr == (
        "moneyprinter generate: song: no uploaded song is named 'nonexistent.mp3'. (HTTP 400)\n"
    )
    assert run_cli(workdir, "jobs", "--url", server.url).stdout == "No jobs.\n"


def test_a_failed_job_exits_non_zero_with_its_error_and_retry_requeues_it(
    server: Server, workdir: Path
) -> None:
    # No script and no LLM (MONEYPRINTER_LLM_PROVIDER=none): the job fails at its first stage.
    result = run_cli(workdir, "generate", "octopuses", "--max-attempts", "1", "--url", server.url)

    assert result.returncode == 1, result.stderr
    job_id = queued_job_id(result.stderr)
    last_line = result.stderr.splitlines()[-1]
    assert last_line.startswith(f"moneyprinter generate: job {job_id} failed: No script"), (
        result.stderr
    )
    assert list(workdir.iterdir()) == []
    failed = run_cli(workdir, "jobs", "--status", "failed", "--url", server.url)
    assert re.search(rf"^{job_id}\s+failed\s", failed.stdout, re.M), failed.stdout

    retry = run_cli(workdir, "retry", job_id, "--url", server.url)

    assert retry.returncode == 0, retry.stderr
    assert retry.stdout == f"Job requeued. Job {job_id} is queued.\n"


def test_cancel_and_retry_a_queued_job(api_only: Server, workdir: Path) -> None:
    url = ("--url", api_only.url)
    queued = run_cli(workdir, "generate", "octopuses", "--script", SCRIPT, "--detach", *url)
    assert queued.returncode == 0, queued.stderr
    job_id = queued.stdout.strip()
    assert re.search(rf"^{job_id}\s+queued\s", run_cli(workdir, "jobs", *url).stdout, re.M)

    cancel = run_cli(workdir, "cancel", job_id, *url)
    again = run_cli(workdir, "cancel", job_id, *url)
    cancelled = run_cli(workdir, "jobs", "--status", "cancelled", *url)
    retry = run_cli(workdir, "retry", job_id, *url)
    unknown = run_cli(workdir, "cancel", "3f2b8c1e-5d4a-4e8f-9a61-0c7d2e9b4f10", *url)

    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout == f"Cancellation requested. Job {job_id} is cancelled.\n"
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"Job already cancelled; nothing to cancel. Job {job_id} is cancelled.\n"
    assert re.search(rf"^{job_id}\s+cancelled\s", cancelled.stdout, re.M)
    assert retry.stdout == f"Job requeued. Job {job_id} is queued.\n"
    assert unknown.returncode == 1
    assert unknown.stderr == "moneyprinter cancel: Job not found. (HTTP 404)\n"


def test_ctrl_c_stops_following_and_leaves_the_job_on_the_server(
    api_only: Server, workdir: Path
) -> None:
    process = subprocess.Popen(
        [*moneyprinter_command(), "generate", "octopuses", "--script", SCRIPT,
         "--url", api_only.url],
        cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as a terminal delivers it, even when the suite runs in the background (where
        # the shell has SIGINT ignored, and a child inherits that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert process.stderr is not None
    first_line = process.stderr.readline()
    job_id = queued_job_id(first_line)
    assert "Waiting for a worker." in process.stderr.readline()  # following the stream

    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=CLI_TIMEOUT_S)

    assert process.returncode == 130
    assert stderr.splitlines()[-1] == (
        f"Stopped following job {job_id}; it keeps running on the server "
        f"(moneyprinter cancel {job_id} stops it)."
    )
    assert "Traceback" not in stderr
    job = httpx.get(f"{api_only.url}/api/jobs/{job_id}").json()["job"]
    assert job["state"] == "queued"


def test_an_unreachable_server_is_one_clear_line(workdir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    generate = run_cli(workdir, "generate", "octopuses", "--url", url)
    jobs = run_cli(workdir, "jobs", "--url", url)
    bad_url = run_cli(workdir, "jobs", "--url", "localhost:8080")

    assert generate.returncode == 1
    assert generate.stderr == (
        f"moneyprinter generate: Cannot reach the server at {url}: connection refused.\n"
    )
    assert jobs.returncode == 1
    assert (
        jobs.stderr == f"moneyprinter jobs: Cannot reach the server at {url}: connection refused.\n"
    )
    assert bad_url.returncode == 2
    assert "bad --url 'localhost:8080'" in bad_url.stderr


class StreamCuttingProxy:
    """A loopback HTTP proxy in front of the server (one request per connection) that cuts the
    first event stream right after its first event, as a dropped connection would."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stream_requests: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            request = self._read_request(client)
            head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            cut = False
            if "/stream " in head.split("\r\n", 1)[0]:
                with self.lock:
                    self.stream_requests.append(head)
                    cut = len(self.stream_requests) == 1
            upstream.sendall(request)
            received = b""
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
                received += chunk
                body = received.partition(b"\r\n\r\n")[2]
                if cut and b"id: " in body and b"\n\n" in body:
                    return  # both sockets close mid-stream

    @staticmethod
    def _read_request(client: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            data += client.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        while length and len(body) < int(length.group(1)):
            body += client.recv(65536)
        # One request per connection, so each one (the stream's included) is seen here.
        head = re.sub(rb"(?i)\r\nconnection:[^\r]*", b"", head) + b"\r\nConnection: close"
        return head + b"\r\n\r\n" + body


def test_generate_resumes_a_dropped_stream_after_the_last_event(
    server: Server, workdir: Path
) -> None:
    proxy = StreamCuttingProxy(server.port)
    try:
        result = run_cli(workdir, "generate", "octopuses", "--script", SCRIPT,
                         "--quality", "draft", "-o", "octopus.mp4", "--url", proxy.url)  # fmt: skip
    finally:
        proxy.close()

    assert result.returncode == 0, result.stderr + server.log()
    assert len(proxy.stream_requests) >= 2
    resumed = re.search(r"(?im)^last-event-id: *(\d+)\r?$", proxy.stream_requests[1])
    assert resumed and int(resumed.group(1)) >= 1, proxy.stream_requests[1]
    assert "last-event-id" not in proxy.stream_requests[0].lower()
    for line in ("queued    Waiting for a worker.", "running   A worker took the job."):
        assert result.stderr.count(line) == 1, result.stderr  # nothing missed, nothing twice
    for stage in STAGES:
        assert len(re.findall(rf"^\[\s*\d+%\] {stage} ", result.stderr, re.M)) == 1
    assert "video" in ffprobe_streams(workdir / "octopus.mp4")


def test_the_httpx_example_makes_a_video(server: Server, workdir: Path) -> None:
    output = workdir / "example.mp4"

    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "generate_with_httpx.py"), "octopuses",
         "--script", SCRIPT, "--url", server.url, "-o", str(output)],
        cwd=workdir, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr + server.log()
    assert result.stdout.splitlines()[-1] == f"saved {output}"
    assert "video" in ffprobe_streams(output)


def test_generate_with_youtube_publishes_and_prints_the_address(
    tmp_path: Path, database_url: str, workdir: Path
) -> None:
    key = new_key()
    with google_server() as google:
        youtube = {
            "MONEYPRINTER_SECRET_KEY": key,
            "MONEYPRINTER_YOUTUBE_API_URL": google.url,
            "MONEYPRINTER_YOUTUBE_CHUNK_BYTES": str(256 * 1024),
        }
        # The original's login, imported as its users would (before the server starts).
        secrets_file, token_file = original_login_files(
            workdir / "Backend", google, google.add_refresh_token()
        )
        server_env = {
            **cli_env(**youtube),
            "DATABASE_URL": database_url,
            "MONEYPRINTER_DATA_DIR": str(tmp_path / "data"),
        }
        run_cli(workdir, "migrate", env=server_env)
        imported = run_cli(
            workdir, "youtube", "import", "--client-secrets", str(secrets_file),
            "--token", str(token_file), env=server_env,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        assert "Connected the YouTube channel Test Channel (UC_test_channel)" in imported.stdout

        for server in start_server(tmp_path, database_url, "serve", **youtube):
            result = run_cli(
                workdir, "generate", "octopuses", "--script", SCRIPT, "--quality", "draft",
                "--youtube", "unlisted", "--url", server.url,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr + server.log()
        with google.lock:
            (video,) = google.videos.values()
    job_id = queued_job_id(result.stderr)
    assert result.stdout.splitlines() == [f"{job_id}.mp4", f"https://youtu.be/{video.id}"]
    assert video.body == (workdir / f"{job_id}.mp4").read_bytes()
    assert video.status["privacyStatus"] == "unlisted"
    assert f"Published on YouTube: https://youtu.be/{video.id}" in result.stderr


TOPICS = (
    "Octopuses", "Whale songs", "Coral reefs", "Sea turtles", "Jellyfish", "Sharks", "Seahorses",
    "Dolphins", "Manta rays", "Starfish", "Kelp forests", "Tides", "Sea otters", "Penguins",
    "Anglerfish", "Clownfish", "Blue whales", "Sea urchins", "Lobsters", "Mangroves",
)  # fmt: skip


def test_a_csv_batch_of_twenty_runs_to_the_end_and_saves_every_video(
    tmp_path: Path, database_url: str, workdir: Path
) -> None:
    rows = ["subject,script,aspect"] + [
        f'{topic},"{topic} live in the sea. Here is one fact about them.",'
        + ("1:1" if index == 3 else "")
        for index, topic in enumerate(TOPICS)
    ]
    (workdir / "ocean.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    two_slots = contextmanager(start_server)
    with two_slots(tmp_path, database_url, "serve", MONEYPRINTER_WORKER_CONCURRENCY="2") as server:
        result = subprocess.run(
            [*moneyprinter_command(), "generate", "--batch", "ocean.csv", "--quality", "draft",
             "--title", "Ocean week", "-o", "videos", "--url", server.url],
            cwd=workdir, env=cli_env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        batches = httpx.get(f"{server.url}/api/batches").json()["batches"]

    assert result.returncode == 0, result.stderr + server.log()
    assert re.search(r"^Queued batch [0-9a-f-]{36} \(20 videos\)", result.stderr, re.M)
    assert re.search(r": 20 of 20 ended \(20 completed\), 100% done$", result.stderr, re.M)
    saved = [Path(line) for line in result.stdout.splitlines()]
    assert saved == [Path("videos") / f"{n + 1:02d}-{slug(topic)}.mp4" for n, topic in
                     enumerate(TOPICS)]  # fmt: skip
    sizes = {
        (stream["width"], stream["height"])
        for stream in (ffprobe_streams(workdir / path)["video"] for path in saved)
    }
    assert sizes == {(540, 960), (540, 540)}  # the row that asked for 1:1 got it
    assert [(b["title"], b["state"], b["counts"]) for b in batches] == [
        ("Ocean week", "completed", {"completed": 20})
    ]


def slug(topic: str) -> str:
    return topic.lower().replace(" ", "-")


def test_a_bad_batch_row_is_named_by_its_line(api_only: Server, workdir: Path) -> None:
    (workdir / "typo.csv").write_text(
        "subject,scirpt\nOctopuses,Eight arms.\nWhales,Big ones.\n", encoding="utf-8"
    )
    (workdir / "empty.csv").write_text("subject,script\n", encoding="utf-8")

    typo = run_cli(workdir, "generate", "--batch", "typo.csv", "--url", api_only.url)
    empty = run_cli(workdir, "generate", "--batch", "empty.csv", "--url", api_only.url)
    both = run_cli(workdir, "generate", "Octopuses", "--batch", "typo.csv")

    assert (typo.returncode, typo.stderr) == (
        1,
        "moneyprinter generate: typo.csv, line 2: jobs[0].scirpt: not a field of a video "
        "(see /api/generate). (HTTP 400)\n",
    )
    assert (empty.returncode, empty.stderr) == (
        2,
        "moneyprinter generate: empty.csv has a header but no videos\n",
    )
    assert both.returncode == 2 and "give a subject, or --batch FILE.csv" in both.stderr
