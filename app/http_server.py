"""uvicorn as the server commands run it: a protocol that bounds each request head (time, size)
and the requests running at once, and the settings' keep-alive timeout."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.settings import Settings

# How long the HTTP side waits for open requests (a client following a stream) at shutdown.
HTTP_SHUTDOWN_TIMEOUT_S = 5
# A request line and headers beyond this get 431: browsers send a few KB, proxies cap at 8-32 KB,
# and httptools itself has no limit (a client could fill the memory within the head timeout).
MAX_HEAD_BYTES = 64 * 1024
HEAD_TOO_LARGE = b'{"status":"error","message":"Request headers too large."}'
BUSY = json.dumps(
    {"status": "error", "message": "The server is busy (too many requests at once); try again."}
).encode()


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with three limits uvicorn lacks or counts otherwise.

    - A deadline on each request head, from the connection's start for its first request, from
      the first byte of each next one (the idle time between requests is uvicorn's keep-alive
      timeout). Without it a client that never finishes its headers holds the connection for
      ever. A head pipelined behind a running request is not watched.
    - A size limit on the head (431).
    - At most `max_requests` requests running at once, server-wide; more get 503 at once.
      uvicorn's own `limit_concurrency` also counts open connections, so slow or idle clients,
      which cost no work, would fill it and turn every real request away.
    """

    def __init__(self, *args: Any, head_timeout_s: float, max_requests: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout_s = head_timeout_s
        self._max_requests = max_requests
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._start_head_deadline()
        super().data_received(data)
        if self._head_deadline is None or self.transport.is_closing():
            return
        self._head_bytes += len(data)  # the head is still incomplete: all of it was head
        if self._head_bytes > MAX_HEAD_BYTES:
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (len(HEAD_TOO_LARGE), HEAD_TOO_LARGE)
            )
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._cancel_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # Where uvicorn starts each request, pipelined ones included; `tasks` is server-wide.
        busy = len(self.tasks) >= self._max_requests
        super()._start_asgi_task(cycle, _busy if busy else app)

    def _start_head_deadline(self) -> None:
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self._head_timeout_s, self.transport.close)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None


async def _busy(_scope: Scope, _receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BUSY)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": BUSY, "more_body": False})


def http_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for the HTTP server of `api` and `serve`. The protocol is a
    partial of a module-level class, so that `api --workers` can hand it to its processes."""
    return {
        "http": functools.partial(
            GuardedProtocol,
            head_timeout_s=settings.http_header_timeout_s,
            max_requests=settings.http_max_concurrency,
        ),
        "timeout_keep_alive": settings.http_keep_alive_s,
        "timeout_graceful_shutdown": HTTP_SHUTDOWN_TIMEOUT_S,
    }
