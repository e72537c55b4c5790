"""Answering with a stored file: from the data folder, or from a bucket through the API.

Bucket objects are proxied, not redirected to presigned URLs: the API key or URL token keeps
guarding them, the bucket need not be reachable from browsers (it rarely is: Compose keeps MinIO
on its own network), and every client, the original's page included, keeps loading the API's own
address. A browser seeking in a video sends `Range`; each is one ranged GET to the store, whose
first bytes are sent on as they arrive (bench/README.md, "Several machines", has the time to first
byte). A single range is answered with 206; several ranges are answered with the whole object
(200), as RFC 9110 allows; an unsatisfiable one with 416.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.datastructures import Headers

from app.errors import NotFound, ServiceUnavailable
from app.storage import ObjectStore, RangeRead, StorageError

logger = logging.getLogger("app.api.files")

SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
GONE = "The file is no longer available."


def local_file(path: Path, *, media_type: str, filename: str | None = None) -> FileResponse:
    return FileResponse(
        path, media_type=media_type, filename=filename, content_disposition_type="inline"
    )


async def stored_file(
    store: ObjectStore, key: str, request: Request, *, media_type: str, filename: str | None
) -> Response:
    """The object `key` of `store`, answered as FileResponse answers a local file: ranges,
    Content-Disposition inline. NotFound when it is not there; ServiceUnavailable when the
    store cannot be read (the detail goes to the log, not to the client)."""
    headers = {"Accept-Ranges": "bytes"}
    if filename is not None:
        headers["Content-Disposition"] = _inline(filename)
    wanted = _single_range(request.headers)
    try:
        try:
            part = await store.read(key, *wanted) if wanted else await store.read(key)
        except StorageError:
            found = await store.head(key)
            if found is None or wanted is None or not _beyond(wanted, found.size_bytes):
                raise
            headers["Content-Range"] = f"bytes */{found.size_bytes}"
            return Response(status_code=416, headers=headers)
    except FileNotFoundError:
        raise NotFound(GONE) from None
    except StorageError as exc:
        logger.warning("%s", exc)
        raise ServiceUnavailable("The file store could not be read; try again.") from exc
    return _streamed(part, wanted is not None, headers, media_type)


def _streamed(
    part: RangeRead, ranged: bool, headers: dict[str, str], media_type: str
) -> StreamingResponse:
    headers["Content-Length"] = str(part.end - part.start)
    if ranged:
        headers["Content-Range"] = f"bytes {part.start}-{part.end - 1}/{part.size_bytes}"
    status = 206 if ranged else 200
    return StreamingResponse(
        part.chunks, status_code=status, headers=headers, media_type=media_type
    )


def _single_range(headers: Headers) -> tuple[int, int | None] | None:
    """`Range: bytes=a-b` as (a, b + 1), `bytes=a-` as (a, None), `bytes=-n` as (-n, None);
    None for no range, several ranges, or one this cannot read (answered with the whole file)."""
    match = SINGLE_RANGE.fullmatch(headers.get("range", "").replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        return (-int(last), None) if last and int(last) > 0 else None
    if not last:
        return int(first), None
    if int(last) < int(first):
        return None
    return int(first), int(last) + 1


def _inline(filename: str) -> str:
    """Content-Disposition as FileResponse writes it for a local file."""
    quoted = quote(filename)
    if quoted != filename:
        return f"inline; filename*=utf-8''{quoted}"
    return f'inline; filename="{filename}"'


def _beyond(wanted: tuple[int, int | None], size: int) -> bool:
    return wanted[0] >= size
