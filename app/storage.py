"""Where stored files live: the data folder, or a bucket of an S3-compatible store.

`MONEYPRINTER_STORAGE_URL` empty (or `file://` naming the data folder) keeps everything in the
data folder, as a single host wants. `s3://bucket/prefix` puts every job's files, the songs and
the voice samples in that bucket under that prefix, so that an API host and worker hosts share
nothing but Postgres and the bucket. The endpoint and credentials come from the standard AWS
variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and
the rest obstore reads), so AWS S3, MinIO, R2, B2 or Garage need no code of ours.

Keys are the same relative paths the data folder uses (`jobs/<job id>/<attempt>/video.mp4`,
`songs/<name>.mp3`, `voice-samples/<voice>.wav`): moving a data folder into a bucket keeps every
name. The client is obstore, chosen by measurement (bench/README.md, "Object-store clients").

Uploads send each part's SHA-256 (`x-amz-checksum-sha256`), which the store checks before it
accepts the part, and are compared by size afterwards. A large file goes up in parts; the object
appears only when the last part is in, so a reader never sees half a file. Parts of an upload
that never finished (a host lost mid-upload) are invisible; retention aborts them a day later
(app/s3_uploads.py), as would a lifecycle rule of the store.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import obstore
from obstore.store import S3Store

from app.s3_uploads import Credentials, MultipartUploads

if TYPE_CHECKING:
    from obstore import GetOptions

# Parts of 8 MiB: S3 wants at least 5 MiB but the last; a 60 s short is a handful of parts.
PART_BYTES = 8 * 1024 * 1024
PARALLEL_PARTS = 4
READ_CHUNK_BYTES = 256 * 1024
HASH_CHUNK_BYTES = 1 << 20


class StorageError(Exception):
    """The store refused or could not be reached; the message says which object and why."""


class StorageUrlError(ValueError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the store's prefix
    size_bytes: int
    modified_at: datetime


@dataclass
class RangeRead:
    """Part of an object as the store sends it: bytes `start` to `end` (exclusive) of `size`."""

    size_bytes: int
    start: int
    end: int
    chunks: AsyncIterator[bytes]


def storage_url_problem(url: str, *, data_dir: Path) -> str | None:
    """Why MONEYPRINTER_STORAGE_URL cannot be used, or None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return f"{url!r}: a file:// URL names a local folder (file:///path), not a host"
        if parts.path and Path(parts.path).resolve() != data_dir.resolve():
            return (
                f"{url!r} is not the data folder ({data_dir.resolve()}): a file:// store is the "
                "data folder; set MONEYPRINTER_DATA_DIR to keep files elsewhere"
            )
        return None
    if parts.scheme != "s3":
        return f"{url!r}: the store is s3://bucket/prefix, or empty for the data folder"
    if not parts.netloc or parts.query or parts.fragment:
        return f"{url!r}: give the bucket and an optional prefix, s3://bucket/prefix"
    return None


def is_object_store(url: str) -> bool:
    return urlsplit(url).scheme == "s3"


def sha256_file(path: Path) -> str:
    """The file's SHA-256, as artifact rows keep it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def s3_endpoint() -> str:
    """The endpoint the AWS variables name; empty for AWS S3 itself."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL", "")


@cache
def open_store(url: str) -> ObjectStore:
    """The bucket an `s3://` URL names, one client per URL and process."""
    return ObjectStore(url)


class ObjectStore:
    """A bucket and a prefix. The async methods serve the API and the worker's loop; the
    `_sync` ones serve the pipeline's child process and threads."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        prefix = parts.path.strip("/")
        self.bucket = parts.netloc
        self.prefix = prefix
        self.url = f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"
        endpoint = s3_endpoint()
        self._store = S3Store(
            self.bucket,
            prefix=prefix or None,
            config={"checksum_algorithm": "SHA256"},
            # A plain-HTTP endpoint is a store on the local network (MinIO in Compose).
            client_options={"allow_http": endpoint.startswith("http://")},
        )

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def where(self, key: str) -> str:
        """The object's full URL, for messages."""
        return f"{self.url}/{key}"

    # -- writing --------------------------------------------------------------------------

    def _put_options(self, content_type: str) -> dict[str, Any]:
        return {
            "attributes": {"Content-Type": content_type},
            "chunk_size": PART_BYTES,
            "max_concurrency": PARALLEL_PARTS,
        }

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Upload the file whole: in parts when large, verified part by part and by size."""
        size = os.stat(path).st_size  # a cheap call, not worth a thread
        with _failures(f"Could not store {self.where(key)}"):
            await obstore.put_async(self._store, key, path, **self._put_options(content_type))
            stored = await obstore.head_async(self._store, key)
        self._check_size(key, stored["size"], size)

    def put_file_sync(self, key: str, path: Path, *, content_type: str) -> None:
        size = os.stat(path).st_size
        with _failures(f"Could not store {self.where(key)}"):
            obstore.put(self._store, key, path, **self._put_options(content_type))
            stored = obstore.head(self._store, key)
        self._check_size(key, stored["size"], size)

    def _check_size(self, key: str, stored: int, expected: int) -> None:
        if stored != expected:
            raise StorageError(
                f"{self.where(key)} holds {stored:,} bytes after the upload of {expected:,}"
            )

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            with _failures(f"Could not delete from {self.url}"):
                await obstore.delete_async(self._store, list(keys))

    def delete_sync(self, keys: Sequence[str]) -> None:
        if keys:
            with _failures(f"Could not delete from {self.url}"):
                obstore.delete(self._store, list(keys))

    def abort_unfinished_uploads(self, *, begun_before: datetime) -> int:
        """Abort the multipart uploads under the prefix begun before `begun_before` (a worker
        lost mid-upload leaves one); how many. Without keys in the environment, 0: the store's
        lifecycle rule is then what removes them."""
        credentials = Credentials.from_environment()
        if credentials is None:
            return 0
        uploads = MultipartUploads(self.bucket, credentials, endpoint=s3_endpoint())
        try:
            stale = [
                upload
                for upload in uploads.pending(f"{self.prefix}/" if self.prefix else "")
                if upload.initiated_at < begun_before
            ]
            for upload in stale:
                uploads.abort(upload)
        except (httpx.HTTPError, ValueError) as exc:
            raise StorageError(
                f"Could not list the unfinished uploads of {self.url}: {exc}"
            ) from exc
        return len(stale)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix/`; returns how many there were."""
        keys = [found.key for found in await self.list_objects(prefix)]
        await self.delete(keys)
        return len(keys)

    # -- reading --------------------------------------------------------------------------

    async def head(self, key: str) -> StoredObject | None:
        try:
            with _failures(f"Could not read {self.where(key)}", reading=True):
                return _stored(await obstore.head_async(self._store, key))
        except FileNotFoundError:
            return None

    def head_sync(self, key: str) -> StoredObject | None:
        try:
            with _failures(f"Could not read {self.where(key)}", reading=True):
                return _stored(obstore.head(self._store, key))
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int | None = None, end: int | None = None) -> RangeRead:
        """Bytes `start` to `end` (exclusive) of the object, or a suffix when only `end` is None
        and `start` is negative, or all of it; FileNotFoundError when there is no such object.
        One request: the size comes with the bytes."""
        options: GetOptions = {}
        if start is not None and start < 0:
            options["range"] = {"suffix": -start}
        elif start is not None:
            options["range"] = (start, end) if end is not None else {"offset": start}
        with _failures(f"Could not read {self.where(key)}", reading=True):
            result = await obstore.get_async(self._store, key, options=options)
        first, last = result.range
        stream = result.stream(min_chunk_size=READ_CHUNK_BYTES)
        return RangeRead(result.meta["size"], first, last, _chunks(stream))

    def download_sync(self, key: str, destination: Path) -> None:
        """Copy the object into `destination`, written under a temporary name then renamed."""
        staging = destination.with_name(f".{destination.name}.part")
        try:
            with _failures(f"Could not read {self.where(key)}", reading=True):
                result = obstore.get(self._store, key)
                with staging.open("wb") as out:
                    for chunk in result.stream(min_chunk_size=PART_BYTES):
                        out.write(chunk)
            os.replace(staging, destination)
        finally:
            staging.unlink(missing_ok=True)

    async def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every object under `prefix/`."""
        found: list[StoredObject] = []
        with _failures(f"Could not list {self.where(prefix)}"):
            async for batch in obstore.list(self._store, prefix.rstrip("/") + "/"):
                found.extend(_stored(meta) for meta in batch)
        return found

    def list_objects_sync(self, prefix: str) -> list[StoredObject]:
        with _failures(f"Could not list {self.where(prefix)}"):
            batches = obstore.list(self._store, prefix.rstrip("/") + "/")
            return [_stored(meta) for batch in batches for meta in batch]

    async def folders(self, prefix: str) -> list[str]:
        """The names directly under `prefix/` that hold objects (`jobs` → job ids)."""
        with _failures(f"Could not list {self.where(prefix)}"):
            listed = await obstore.list_with_delimiter_async(self._store, prefix.rstrip("/"))
        return [name.rsplit("/", 1)[-1] for name in listed["common_prefixes"]]


@contextmanager
def _failures(doing: str, *, reading: bool = False) -> Iterator[None]:
    """obstore's errors as a StorageError that says what was being done; when `reading`, a
    missing object stays FileNotFoundError for the caller to answer (a write to a missing
    bucket is a failure to store)."""
    try:
        yield
    except Exception as exc:
        if reading and isinstance(exc, FileNotFoundError):
            raise
        raise StorageError(f"{doing}: {_reason(exc)}") from exc


async def _chunks(stream: Any) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield bytes(chunk)


def _stored(meta: Any) -> StoredObject:
    return StoredObject(meta["path"], meta["size"], meta["last_modified"])


def _reason(exc: BaseException) -> str:
    """The first line of obstore's message (the rest is a debug dump of the request)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
