"""Request-size limits enforced while the body streams in, before anything parses or stores it."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised into the app when it reads past the limit, so it can never act on a cut body."""


class BodySizeLimit:
    """Refuse a request whose body passes its path's limit with 413 in the error envelope.

    Every path gets `max_bytes` unless `max_bytes_by_path` names it, or its end
    (`max_bytes_by_ending`: a path under a job) is named there (uploads). A declared
    Content-Length over the limit is refused before reading; a chunked body is counted as it
    arrives, so a client cannot get around the limit by leaving the length out."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_bytes_by_path: Mapping[str, int],
        max_bytes_by_ending: Mapping[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.max_bytes = max_bytes
        self.max_bytes_by_path = dict(max_bytes_by_path)
        self.max_bytes_by_ending = dict(max_bytes_by_ending or {})

    def limit(self, path: str) -> int:
        if path in self.max_bytes_by_path:
            return self.max_bytes_by_path[path]
        ending = next((end for end in self.max_bytes_by_ending if path.endswith(end)), None)
        return self.max_bytes if ending is None else self.max_bytes_by_ending[ending]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_too_large(send, limit)
            return
        received = 0
        too_large = started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, refused
            if not too_large:
                started = started or message["type"] == "http.response.start"
                await send(message)
            elif not started and not refused:
                # The app's body parser turns the error into its own 400: answer 413 instead.
                refused = True
                await send_too_large(send, limit)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise  # the answer is under way: the server can only drop the connection
        if too_large and not refused and not started:
            await send_too_large(send, limit)


async def send_too_large(send: Send, max_bytes: int) -> None:
    await send_error(send, 413, f"Request body is larger than {_size(max_bytes)}.")


def _size(size_bytes: int) -> str:
    if size_bytes < 1024 * 1024:
        return f"{size_bytes:,} bytes"
    return f"{size_bytes / (1024 * 1024):g} MB"


async def send_error(
    send: Send, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> None:
    """The error envelope, sent straight to the server. `Connection: close`: the request's body
    may be unread, and the connection is not worth saving by reading it."""
    # Encoded as the app's JSONResponse encodes: whoever refuses, the bytes are the same.
    body = json.dumps(
        {"status": "error", "message": message}, ensure_ascii=False, separators=(",", ":")
    ).encode()
    extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
