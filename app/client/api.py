"""A client of the public HTTP API over httpx: queue, follow (server-sent events), download, manage.

Every failure leaves as one `ApiError` carrying the server's `message` and the HTTP status (None
when the server could not be reached), so a caller shows one line and never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT_S = 30.0
# The stream sends a keepalive every 15 s: a read that waits much longer means the link is dead.
STREAM_READ_TIMEOUT_S = 60.0
RECONNECT_GIVE_UP_S = 60.0
RECONNECT_DELAY_CAP_S = 5.0
DOWNLOAD_CHUNK_BYTES = 1 << 20


class ApiError(Exception):
    """A request that failed: the server's message, and its HTTP status (None: no answer)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return (
            self.message
            if self.status_code is None
            else f"{self.message} (HTTP {self.status_code})"
        )


@dataclass(frozen=True)
class SseMessage:
    """One server-sent event as the wire gives it: `event`, `data`, and the last `id` seen."""

    event: str
    data: str
    id: str | None


# What `_stream_messages` yields first, once the server has answered the stream with a success.
CONNECTED = SseMessage(event="", data="", id=None)


@dataclass(frozen=True)
class JobEvent:
    """A job's event (`GET /api/jobs/{id}/events` and `/stream` give the same fields)."""

    id: int
    type: str
    level: str
    message: str
    payload: dict[str, Any]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobEvent:
        return cls(
            id=int(body["id"]),
            type=str(body["type"]),
            level=str(body.get("level") or "info"),
            message=str(body.get("message") or ""),
            payload=dict(body.get("payload") or {}),
        )


@dataclass(frozen=True)
class StreamEnd:
    """The stream's last message: the job reached a final state."""

    state: str


def parse_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Server-sent events from the stream's lines (line endings already removed), as the HTML
    standard's parser reads them: comments skipped, `data` lines joined, a blank line dispatches,
    and the last `id` carries over to later events that name none."""
    event, last_id = "", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield SseMessage(event=event or "message", data="\n".join(data), id=last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\x00" not in value:
            last_id = value or None


class MoneyPrinterClient:
    """The API's routes as methods. Use as a context manager (it holds a connection pool)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> MoneyPrinterClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- jobs --------------------------------------------------------------------------------

    def submit(self, request: dict[str, Any], *, idempotency_key: str | None = None) -> str:
        """`POST /api/generate` with the camelCase request; the queued job's id."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = self._json("POST", "/api/generate", json=request, headers=headers)
        return str(body["jobId"])

    def submit_batch(
        self, request: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """`POST /api/batches`: the batch's id and its jobs' ids."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/api/batches", json=request, headers=headers)

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        """`GET /api/batches/{id}`: the batch's figures and its jobs."""
        return self._json("GET", f"/api/batches/{quote(batch_id, safe='')}")

    def get_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", _job_path(job_id))["job"])

    def get_publications(self, job_id: str) -> list[dict[str, Any]]:
        """The job's uploads to YouTube (`publications` of `GET /api/jobs/{id}`)."""
        return list(self._json("GET", _job_path(job_id)).get("publications") or [])

    def list_jobs(
        self, *, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> dict[str, Any]:
        """A page of jobs, newest first: `jobs`, `total`, `limit`, `offset`."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return self._json("GET", "/api/jobs", params=params)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"{_job_path(job_id)}/cancel")

    def retry(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"{_job_path(job_id)}/retry")

    # -- events ------------------------------------------------------------------------------

    def follow(
        self, job_id: str, *, after: int = 0, give_up_after_s: float = RECONNECT_GIVE_UP_S
    ) -> Iterator[JobEvent | StreamEnd]:
        """The job's events after `after` from `/stream`, then one `StreamEnd`.

        A stream that drops (a network error, a server restart, a proxy's timeout) is reopened
        with `Last-Event-ID`, so no event is lost or repeated; after `give_up_after_s` without a
        working stream, ApiError."""
        last_id = after
        failing_since: float | None = None
        attempt = 0
        while True:
            headers = {"Last-Event-ID": str(last_id)} if last_id else {}
            try:
                with contextlib.closing(self._stream_messages(job_id, headers)) as messages:
                    for message in messages:
                        if message is CONNECTED:
                            # The server answered: the stream works, even while a queued job
                            # sends nothing but keepalives and a proxy recycles the connection.
                            failing_since, attempt = None, 0
                            continue
                        if message.event == "end":
                            yield StreamEnd(state=str(_decode(message).get("state", "")))
                            return
                        event = JobEvent.from_json(_decode(message))
                        last_id = event.id
                        yield event
                reason = "the stream closed before the job ended"
            except httpx.RequestError as exc:
                reason = _transport_reason(exc)
            except ApiError as exc:
                if exc.status_code is None or exc.status_code < 500:
                    raise
                reason = str(exc)
            now = time.monotonic()
            failing_since = failing_since if failing_since is not None else now
            if now - failing_since > give_up_after_s:
                raise ApiError(f"Lost the event stream of job {job_id}: {reason}.")
            time.sleep(min(0.25 * 2**attempt, RECONNECT_DELAY_CAP_S))
            attempt += 1

    def _stream_messages(
        self, job_id: str, headers: dict[str, str]
    ) -> Generator[SseMessage, None, None]:
        timeout = httpx.Timeout(DEFAULT_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        path = f"{_job_path(job_id)}/stream"
        with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise _error_of(response)
            yield CONNECTED
            yield from parse_sse(response.iter_lines())

    # -- files -------------------------------------------------------------------------------

    def download_video(self, job_id: str, destination: Path) -> int:
        """Save the job's MP4 at `destination`; the byte count. The bytes go to a temporary file
        in the same folder, renamed into place once complete, so an interrupted download never
        leaves a partial file under the wanted name."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                size = self._download_into(file, f"{_job_path(job_id)}/video")
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return size

    def _download_into(self, file: Any, path: str) -> int:
        size = 0
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(DEFAULT_TIMEOUT_S)) as reply:
                if reply.is_error:
                    reply.read()
                    raise _error_of(reply)
                for chunk in reply.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                    file.write(chunk)
                    size += len(chunk)
        except httpx.RequestError as exc:
            raise ApiError(f"The download failed: {_transport_reason(exc)}.") from exc
        return size

    # -- plumbing ----------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.RequestError as exc:
            raise ApiError(
                f"Cannot reach the server at {self.base_url}: {_transport_reason(exc)}."
            ) from exc
        if response.is_error:
            raise _error_of(response)
        try:
            body = response.json()
        except ValueError:
            raise ApiError(
                f"The server at {self.base_url} answered {path} with something other than JSON.",
                status_code=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise ApiError(f"Unexpected answer to {path}.", status_code=response.status_code)
        return body


def _decode(message: SseMessage) -> dict[str, Any]:
    try:
        body = json.loads(message.data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(f"The event stream sent something other than an event: {message.data!r}")
    return body


def _error_of(response: httpx.Response) -> ApiError:
    """The API's `{"status": "error", "message": …}`, or the status line when the body is not
    ours (a proxy's error page)."""
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    return ApiError(
        message or response.reason_phrase or "Request failed.", status_code=response.status_code
    )


def _transport_reason(exc: httpx.RequestError) -> str:
    """A short reason: httpx's text, else the exception's class (a read timeout has no text)."""
    text = str(exc).strip()
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _umask() -> int:
    # The only way to read the umask is to set it; the CLI runs no other thread at this point.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _job_path(job_id: str) -> str:
    """The job's route; the id is quoted, so no text can reach another route."""
    return f"/api/jobs/{quote(job_id, safe='')}"
