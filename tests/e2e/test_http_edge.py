"""The HTTP server's edge with real `moneyprinter serve` and `api` processes: connections whose
request head never arrives or never ends are closed while the server keeps answering; a long
request, and an idle keep-alive connection, are not cut; the concurrency limit answers 503; and
the app built by each command sees the address given with `--host` (CORS and Host defaults)."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.http_server import MAX_HEAD_BYTES
from tests.support.processes import (
    free_port,
    moneyprinter_command,
    moneyprinter_server,
    wait_until_healthy,
)

PAGE = "http://localhost:3000"  # the original MoneyPrinter page
HEAD_TIMEOUT_S = 1.0
CLOSE_TIMEOUT_S = 30.0  # generous: a busy host; the server closes them after HEAD_TIMEOUT_S
SLOW_CONNECTIONS = 300
PARTIAL_HEAD = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow"
EXIT_TIMEOUT_S = 20.0
SCRIPT = "Octopuses have three hearts. Each arm can taste what it touches."


def environment(root: Path, template: Path, **settings: str) -> dict[str, str]:
    """A data folder holding a migrated SQLite database, and the settings; MONEYPRINTER_HOST says
    the wildcard, which `--host 127.0.0.1` on the command line must override."""
    data_dir = root / "data"
    data_dir.mkdir()
    shutil.copy(template, data_dir / "moneyprinter.db")
    return {
        **os.environ,
        "MONEYPRINTER_DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
        "MONEYPRINTER_HOST": "0.0.0.0",
        "MONEYPRINTER_ALLOWED_HOSTS": "",
        "MONEYPRINTER_CORS_ORIGINS": "",
        "MONEYPRINTER_HTTP_HEADER_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        **settings,
    }


@pytest.fixture(scope="module")
def serve_port(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[int]:
    root = tmp_path_factory.mktemp("serve")
    env = environment(root, sqlite_template)
    with moneyprinter_server("serve", cwd=root, env=env, log_path=root / "server.log") as (
        _process,
        port,
    ):
        yield port


@pytest.fixture(scope="module")
def api_port(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[int]:
    """`api` alone: no worker, so a queued job stays queued until it is cancelled."""
    root = tmp_path_factory.mktemp("api")
    env = environment(
        root,
        sqlite_template,
        MONEYPRINTER_HTTP_KEEP_ALIVE_S="60",
        MONEYPRINTER_STREAM_POLL_INTERVAL_S="0.1",
    )
    with moneyprinter_server("api", cwd=root, env=env, log_path=root / "server.log") as (
        _process,
        port,
    ):
        yield port


def connect(port: int, head: bytes = b"") -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    if head:
        connection.sendall(head)
    return connection


def still_open_after(connections: list[socket.socket], timeout_s: float) -> int:
    """Waits until the server has closed every connection (each reads end-of-file) or
    `timeout_s` passed; how many are still open."""
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(4096)  # type: ignore[union-attr]
                except ConnectionResetError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
        return len(selector.get_map())


def answer(port: int, request: bytes) -> bytes:
    """What the server sends back to `request`, up to its closing the connection."""
    with connect(port, request) as connection:
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def read_response(connection: socket.socket) -> bytes:
    """One response with a Content-Length, whole, from a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += receive(connection)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += receive(connection)
    return head + b"\r\n\r\n" + body


def receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    assert chunk, "the server closed the connection"
    return chunk


def test_serve_closes_slow_header_connections_and_keeps_answering(serve_port: int) -> None:
    slow = [connect(serve_port, PARTIAL_HEAD) for _ in range(SLOW_CONNECTIONS - 50)]
    silent = [connect(serve_port) for _ in range(50)]
    try:
        health = httpx.get(f"http://127.0.0.1:{serve_port}/api/health", timeout=10)

        assert health.status_code == 200
        assert still_open_after(slow + silent, CLOSE_TIMEOUT_S) == 0
    finally:
        for connection in slow + silent:
            connection.close()


@pytest.mark.parametrize("command_port", ["serve_port", "api_port"])
def test_the_app_is_built_for_the_address_given_with_host(
    request: pytest.FixtureRequest, command_port: str
) -> None:
    """MONEYPRINTER_HOST says 0.0.0.0, `--host` 127.0.0.1: the loopback defaults apply."""
    port = request.getfixturevalue(command_port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        models = client.get("/api/models", headers={"Origin": PAGE})
        by_address = client.get("/api/health", headers={"Host": f"172.18.0.3:{port}"})

    assert models.headers.get("access-control-allow-origin") == PAGE
    assert by_address.status_code == 400


def test_a_request_head_that_never_ends_gets_431(api_port: int) -> None:
    # One byte over the limit: the server has read all of it when it answers (closing with
    # bytes unread would reset the connection, and the answer could be lost).
    start = PARTIAL_HEAD + b"\r\nX-Pad: "
    endless = start + b"a" * (MAX_HEAD_BYTES + 1 - len(start))

    received = answer(api_port, endless)

    assert received.startswith(b"HTTP/1.1 431 ")
    assert received.endswith(b'{"status":"error","message":"Request headers too large."}')


def test_a_request_without_a_host_header_gets_400(api_port: int) -> None:
    received = answer(api_port, b"GET /api/health HTTP/1.0\r\n\r\n")

    assert received.startswith(b"HTTP/1.1 400 ")
    assert received.endswith(b'{"status":"error","message":"A Host header is required."}')


def test_an_idle_keep_alive_connection_outlives_the_head_timeout(api_port: int) -> None:
    request = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with connect(api_port, request) as connection:
        first = read_response(connection)
        time.sleep(3 * HEAD_TIMEOUT_S)  # idle: the keep-alive timeout (60 s here) governs
        connection.sendall(request)
        second = read_response(connection)

    assert first.startswith(b"HTTP/1.1 200 ")
    assert second.startswith(b"HTTP/1.1 200 ")


def test_a_stream_outlives_the_head_timeout(api_port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client:
        job_id = client.post(
            "/api/generate", json={"videoSubject": "Octopuses", "script": SCRIPT}
        ).json()["jobId"]
        with client.stream("GET", f"/api/jobs/{job_id}/stream") as stream:
            lines = stream.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            time.sleep(3 * HEAD_TIMEOUT_S)
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as other:
                assert other.post(f"/api/jobs/{job_id}/cancel").status_code == 200
            rest = list(lines)

    assert "Job queued." in first
    assert "event: end" in rest


def test_past_the_concurrency_limit_requests_get_503(tmp_path: Path, sqlite_template: Path) -> None:
    """Running requests count (three streams followed), waiting or idle connections do not."""
    env = environment(tmp_path, sqlite_template, MONEYPRINTER_HTTP_MAX_CONCURRENCY="3")
    log_path = tmp_path / "api.log"
    with (
        moneyprinter_server("api", cwd=tmp_path, env=env, log_path=log_path) as (process, port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        slow = [connect(port, PARTIAL_HEAD) for _ in range(10)]
        with_slow_ones = client.get("/api/health")
        body = {"videoSubject": "Octopuses", "script": SCRIPT}
        job_id = client.post("/api/generate", json=body).json()["jobId"]
        with contextlib.ExitStack() as streams:
            followed = []
            for _ in range(3):
                url = f"http://127.0.0.1:{port}/api/jobs/{job_id}/stream"
                lines = streams.enter_context(httpx.stream("GET", url)).iter_lines()
                followed.append((lines, next(lines)))  # it runs (and keeps its reader)
            refused = client.get("/api/health")
        # The streams' clients left: their requests end, and the server answers again.
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log_path, timeout_s=30)
        for connection in slow:
            connection.close()

    assert with_slow_ones.status_code == 200
    assert refused.status_code == 503
    assert refused.json()["message"] == (
        "The server is busy (too many requests at once); try again."
    )


def test_api_workers_build_their_apps_for_the_address_given_with_host(
    tmp_path: Path, sqlite_template: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "api.log"
    command = [*moneyprinter_command(), "api", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", "2"],
            cwd=tmp_path,
            env=environment(tmp_path, sqlite_template),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(process, base_url, log_path, timeout_s=90)
        # A fresh connection each, taken by either process.
        answers = [httpx.get(f"{base_url}/api/models", headers={"Origin": PAGE}) for _ in range(10)]
        by_address = httpx.get(f"{base_url}/api/health", headers={"Host": f"172.18.0.3:{port}"})
        slow = [connect(port, PARTIAL_HEAD) for _ in range(10)]
        try:
            assert still_open_after(slow, CLOSE_TIMEOUT_S) == 0
        finally:
            for connection in slow:
                connection.close()
    finally:
        process.send_signal(signal.SIGTERM)  # the supervisor stops its workers
        try:
            process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    assert [a.headers.get("access-control-allow-origin") for a in answers] == [PAGE] * 10
    assert by_address.status_code == 400
