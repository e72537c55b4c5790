"""uvicorn as the server commands run it: the settings' timeouts and concurrency limit, and a
protocol that closes a connection whose request head does not arrive in time or does not end."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings

# How long the HTTP side waits for open requests (a client following a stream) at shutdown.
HTTP_SHUTDOWN_TIMEOUT_S = 5
# A request line and headers beyond this get 431: browsers send a few KB, proxies cap at 8-32 KB,
# and httptools itself has no limit (a client could fill the memory within the head timeout).
MAX_HEAD_BYTES = 64 * 1024
HEAD_TOO_LARGE = b'{"status":"error","message":"Request headers too large."}'


class HeadLimitsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head. The
    deadline runs from the connection's start for its first request, from the first byte of each
    next one (the idle time between requests is uvicorn's keep-alive timeout). uvicorn has
    neither: a client that never finishes its headers holds the connection, and a slot of the
    concurrency limit, for ever. A head pipelined behind a running request is not watched."""

    def __init__(self, *args: Any, head_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout_s = head_timeout_s
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

    def _start_head_deadline(self) -> None:
        self._head_bytes = 0
        self._head_deadline = self.loop.call_later(self._head_timeout_s, self.transport.close)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None


def http_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for the HTTP server of `api` and `serve`. The protocol is a
    partial of a module-level class, so that `api --workers` can hand it to its processes."""
    return {
        "http": functools.partial(
            HeadLimitsProtocol, head_timeout_s=settings.http_header_timeout_s
        ),
        "timeout_keep_alive": settings.http_keep_alive_s,
        # Beyond it, new requests get 503 at once instead of queueing for the database.
        "limit_concurrency": settings.http_max_concurrency,
        "timeout_graceful_shutdown": HTTP_SHUTDOWN_TIMEOUT_S,
    }
