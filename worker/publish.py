"""The `publish` job kind: upload a finished video to YouTube, resumably, exactly once.

A publish job names a completed video job and an account (its `publications` row says where the
upload stands). It runs in the worker's event loop (network only, nothing to render):

1. A video that this account already has (an earlier publish of the same video job) is not
   uploaded again: the job ends with that video.
2. Without an upload session, it starts one (`uploadType=resumable`), with the title,
   description and tags of the video's metadata unless the request gave them, and stores the
   session URI. A session exists at YouTube until its bytes are complete, so a worker that dies
   at any point leaves an upload the next attempt finds and resumes.
3. With a session, it first asks YouTube how much it holds (`Content-Range: bytes */<size>`),
   then sends the rest in chunks of MONEYPRINTER_YOUTUBE_CHUNK_BYTES, storing what YouTube
   acknowledged after each. The final answer carries the video's id: stored, the job's result.
4. The thumbnail goes up with `thumbnails.set`, and the video into the request's playlist with
   `playlistItems.insert`; a refusal of either (an unverified channel, an unknown playlist) is a
   warning: the video is published.

Errors: 5xx and lost connections are retried with backoff, resuming from what YouTube says it
holds; a 401 refreshes the access token once; `quotaExceeded` and `uploadLimitExceeded` put the
job back in the queue until YouTube's quota resets (midnight Pacific time), without spending an
attempt; any other refusal fails the job with YouTube's own message; a refresh token Google no
longer accepts disconnects the account.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.crypto import SecretBox
from app.db.models import Artifact, Publication, YouTubeAccount, utcnow
from app.db.repositories import Repositories
from app.db.repositories.accounts import CONNECTED, disconnected_reason
from app.domain import MAX_TAGS_CHARS, EventLevel, EventType, PublishOptions, youtube_tags_length
from app.settings import Settings
from app.version import app_version
from app.youtube import (
    AccessToken,
    Grant,
    InvalidGrant,
    OAuthError,
    google_error,
    refresh,
    watch_url,
)
from app.youtube_accounts import grant_of
from worker.bucket import local_file_of
from worker.errors import Deferred, PipelineError
from worker.runner import RunningJob

STAGE = "publish"
TIMEOUT = httpx.Timeout(30.0, write=120.0)
TRANSIENT_TRIES = 8
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024
# YouTube's daily quota and upload limits reset at midnight in California.
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
QUOTA_REASONS = {"quotaExceeded", "uploadLimitExceeded"}
# Too many requests just now: backing off is enough.
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
RESUME_INCOMPLETE = 308

RunInTransaction = Callable[[Callable[[Repositories], Awaitable[Any]]], Awaitable[Any]]


class TransientError(Exception):
    """The request may succeed if sent again: a 5xx, a lost or timed-out connection."""


class SessionGone(Exception):
    """YouTube no longer knows the upload session (it expired): start a new one."""


@dataclass
class Upload:
    """What one publish job works with."""

    job: RunningJob
    publication: Publication
    account: YouTubeAccount
    grant: Grant
    video: Path
    size: int
    sha256: str
    thumbnail: Path | None
    options: PublishOptions
    metadata: dict[str, Any]


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in California after `now` (UTC), with a minute to spare."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_ZONE)
    return (midnight + timedelta(minutes=1)).astimezone(UTC)


class Publisher:
    def __init__(self, settings: Settings, run: RunInTransaction) -> None:
        self._settings = settings
        self._run = run  # the worker's retrying transaction runner
        self._api = settings.youtube_api_url.rstrip("/")
        self._tokens: dict[int, AccessToken] = {}

    async def publish(self, job: RunningJob) -> None:
        async with httpx.AsyncClient(
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": f"MoneyPrinter/{app_version()}"},
        ) as client:
            upload = await self._load(job)
            if upload is None:
                return
            video_id = upload.publication.youtube_video_id
            if video_id is None:
                video_id = await self._upload(client, upload)
            if upload.thumbnail is not None and not upload.publication.thumbnail_set:
                await self._set_thumbnail(client, upload, video_id)
            if upload.options.playlist_id and not upload.publication.playlist_done:
                await self._add_to_playlist(client, upload, video_id, upload.options.playlist_id)

    # -- state -------------------------------------------------------------------------------

    async def _load(self, job: RunningJob) -> Upload | None:
        async def load(db: Repositories) -> tuple[Any, ...]:
            publication = await db.publications.get(job.id)
            if publication is None:
                return None, None, None, []
            account = (
                await db.accounts.get(publication.account_id)
                if publication.account_id is not None
                else None
            )
            earlier = None
            if account is not None and publication.youtube_video_id is None:
                earlier = await db.publications.published_for(publication.video_job_id, account.id)
            artifacts = await db.artifacts.list_for_job(publication.video_job_id)
            return publication, account, earlier, artifacts

        publication, account, earlier, artifacts = await self._run(load)
        if publication is None:
            raise PipelineError("This publish job has no publication record.", retryable=False)
        if account is None:
            raise PipelineError(
                str(job.payload.get("problem") or "")
                or "The YouTube account of this publish job was removed; publish the video "
                "again to a connected account.",
                retryable=False,
            )
        if account.status != CONNECTED:
            raise PipelineError(disconnected_reason(account), retryable=False)
        if earlier is not None:
            await self._save(
                job,
                f"Already on YouTube: {watch_url(earlier.youtube_video_id)} (published by job "
                f"{earlier.job_id}); not uploaded again.",
                youtube_video_id=earlier.youtube_video_id,
                thumbnail_set=True,
                published_at=utcnow(),
            )
            return None
        by_kind: dict[str, Artifact] = {artifact.kind: artifact for artifact in artifacts}
        video = by_kind.get("video")
        if video is None:
            raise PipelineError("The video job has no video to publish.", retryable=False)
        grant = grant_of(account, SecretBox(self._settings.secret_key))
        thumbnail = by_kind.get("thumbnail")
        metadata_file = by_kind.get("metadata")
        places = {"data_dir": self._settings.data_dir, "scratch": self._scratch(job)}
        metadata = (
            await asyncio.to_thread(read_metadata, await local_file_of(metadata_file, **places))
            if metadata_file
            else {}
        )
        return Upload(
            job=job,
            publication=publication,
            account=account,
            grant=grant,
            video=await local_file_of(video, **places),
            size=video.bytes,
            sha256=video.sha256,
            thumbnail=await local_file_of(thumbnail, **places) if thumbnail is not None else None,
            options=PublishOptions.model_validate(job.payload.get("options") or {}),
            metadata=metadata,
        )

    def _scratch(self, job: RunningJob) -> Path:
        return self._settings.jobs_dir / job.id / str(job.attempt)

    async def _save(
        self,
        job: RunningJob,
        message: str | None,
        *,
        level: EventLevel = EventLevel.INFO,
        **values: Any,
    ) -> None:
        """Store the upload's progress (fenced by the job's lease) and log `message` with it."""

        async def save(db: Repositories) -> bool:
            saved = await db.publications.update(job.id, job.token, **values)
            if saved and message:
                await db.events.add(
                    job.id, EventType.LOG, message, level=level, payload={"stage": STAGE}
                )
            return saved

        if not await self._run(save):
            # Its failure will not be recorded either: the job is another worker's now.
            raise PipelineError("The lease on this job was lost.", retryable=True)

    # -- the upload --------------------------------------------------------------------------

    async def _upload(self, client: httpx.AsyncClient, upload: Upload) -> str:
        await asyncio.to_thread(check_file, upload.video, upload.size, upload.sha256)
        publication = upload.publication
        resumable = publication.upload_uri is not None and publication.video_sha256 == upload.sha256
        session = publication.upload_uri if resumable else None
        for _ in range(2):  # a second session only if YouTube forgot the first
            try:
                if session is None:
                    session = await self._start_session(client, upload)
                video = await self._send_all(client, upload, session, resuming=resumable)
            except SessionGone:
                await self._save(
                    upload.job,
                    "YouTube no longer knows the upload session; starting a new one.",
                    level=EventLevel.WARNING,
                    upload_uri=None,
                    bytes_acknowledged=0,
                )
                session, resumable = None, False
                continue
            video_id = str(video["id"])
            await self._save(
                upload.job,
                f"Published on YouTube: {watch_url(video_id)} ({upload.options.privacy}).",
                youtube_video_id=video_id,
                bytes_acknowledged=upload.size,
                published_at=utcnow(),
            )
            return video_id
        raise PipelineError("YouTube dropped the upload session twice.", retryable=True)

    async def _send_all(
        self, client: httpx.AsyncClient, upload: Upload, session: str, *, resuming: bool
    ) -> dict[str, Any]:
        """Send the bytes YouTube does not hold yet, chunk by chunk; the final video resource.

        After any failure (and when resuming another attempt's session) what reached YouTube is
        unknown, so the next try asks first and goes on from what it holds."""
        position: int | dict[str, Any] = 0
        unsure = resuming

        async def step() -> int | dict[str, Any]:
            nonlocal position, unsure
            if unsure:
                position = await self._probe(client, upload, session)
                unsure = False
                if isinstance(position, dict):
                    return position
            assert isinstance(position, int)
            try:
                return await self._send_chunk(client, upload, session, position)
            except TransientError:
                unsure = True
                raise

        while True:
            position = await self._with_retries(upload, step)
            if isinstance(position, dict):
                return position
            await self._save(
                upload.job,
                f"Uploaded {position / upload.size:.0%} ({position:,} of {upload.size:,} bytes).",
                bytes_acknowledged=position,
            )

    async def _start_session(self, client: httpx.AsyncClient, upload: Upload) -> str:
        resource = video_resource(upload.options, upload.metadata)

        async def start() -> httpx.Response:
            return await client.post(
                f"{self._api}/upload/youtube/v3/videos",
                params={"uploadType": "resumable", "part": "snippet,status"},
                json=resource,
                headers={
                    **await self._auth(client, upload),
                    "x-upload-content-length": str(upload.size),
                    "x-upload-content-type": "video/mp4",
                },
            )

        response = await self._with_retries(upload, lambda: self._checked(start))
        location = response.headers.get("location")
        if response.status_code != 200 or not location:
            raise PipelineError(
                f"YouTube did not start the upload (HTTP {response.status_code}).", retryable=True
            )
        await self._save(
            upload.job,
            f"Uploading {upload.size:,} bytes to {upload.account.channel_title or 'YouTube'}.",
            upload_uri=location,
            bytes_total=upload.size,
            bytes_acknowledged=0,
            video_sha256=upload.sha256,
        )
        return location

    async def _probe(
        self, client: httpx.AsyncClient, upload: Upload, session: str
    ) -> int | dict[str, Any]:
        """How many bytes YouTube holds (the next offset), or the video when it has them all."""

        async def probe() -> httpx.Response:
            return await client.put(
                session,
                content=b"",
                headers={
                    **await self._auth(client, upload),
                    "content-range": f"bytes */{upload.size}",
                },
            )

        return self._position(await self._checked(probe, session=True))

    async def _send_chunk(
        self, client: httpx.AsyncClient, upload: Upload, session: str, offset: int
    ) -> int | dict[str, Any]:
        size = min(self._settings.youtube_chunk_bytes, upload.size - offset)
        chunk = await asyncio.to_thread(read_chunk, upload.video, offset, size)

        async def send() -> httpx.Response:
            return await client.put(
                session,
                content=chunk,
                headers={
                    **await self._auth(client, upload),
                    "content-type": "video/mp4",
                    "content-range": f"bytes {offset}-{offset + size - 1}/{upload.size}",
                },
            )

        return self._position(await self._checked(send, session=True))

    def _position(self, response: httpx.Response) -> int | dict[str, Any]:
        if response.status_code in (200, 201):
            body = response.json()
            if not isinstance(body, dict) or "id" not in body:
                raise PipelineError("YouTube's final answer named no video.", retryable=True)
            return body
        if response.status_code == RESUME_INCOMPLETE:
            held = response.headers.get("range", "")
            # `bytes=0-N`: N is the last byte held. No Range: nothing is held.
            return int(held.rpartition("-")[2]) + 1 if held else 0
        raise PipelineError(
            f"YouTube answered the upload with HTTP {response.status_code}.", retryable=True
        )

    async def _set_thumbnail(
        self, client: httpx.AsyncClient, upload: Upload, video_id: str
    ) -> None:
        assert upload.thumbnail is not None
        image = await asyncio.to_thread(upload.thumbnail.read_bytes)
        if len(image) > MAX_THUMBNAIL_BYTES:
            await self._save(
                upload.job,
                f"The thumbnail is {len(image):,} bytes, over YouTube's 2 MB: not set.",
                level=EventLevel.WARNING,
                thumbnail_set=True,
            )
            return
        mime = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"

        async def send() -> httpx.Response:
            return await client.post(
                f"{self._api}/upload/youtube/v3/thumbnails/set",
                params={"videoId": video_id},
                content=image,
                headers={**await self._auth(client, upload), "content-type": mime},
            )

        await self._finishing_touch(
            upload,
            send,
            done="thumbnail_set",
            succeeded="Thumbnail set.",
            refused="YouTube did not take the thumbnail: {} The video is published; a channel "
            "must be verified (youtube.com/verify) for custom thumbnails.",
        )

    async def _add_to_playlist(
        self, client: httpx.AsyncClient, upload: Upload, video_id: str, playlist_id: str
    ) -> None:
        item = {
            "snippet": {
                "playlistId": playlist_id,
                "resourceId": {"kind": "youtube#video", "videoId": video_id},
            }
        }

        async def send() -> httpx.Response:
            return await client.post(
                f"{self._api}/youtube/v3/playlistItems",
                params={"part": "snippet"},
                json=item,
                headers=await self._auth(client, upload),
            )

        await self._finishing_touch(
            upload,
            send,
            done="playlist_done",
            succeeded=f"Added to the playlist {playlist_id}.",
            refused=f"The video is published but not in the playlist {playlist_id}: {{}}",
        )

    async def _finishing_touch(
        self,
        upload: Upload,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        done: str,
        succeeded: str,
        refused: str,
    ) -> None:
        """A step after the upload (the thumbnail, the playlist): its flag `done` is set whether
        YouTube took it or not, for a refusal leaves the video published; `refused` gets
        YouTube's reason in its `{}`, as a warning."""
        values: dict[str, Any] = {done: True}
        try:
            await self._with_retries(upload, lambda: self._checked(send))
        except PipelineError as exc:
            await self._save(
                upload.job, refused.format(exc.message), level=EventLevel.WARNING, **values
            )
            return
        await self._save(upload.job, succeeded, **values)

    # -- requests ----------------------------------------------------------------------------

    async def _checked(
        self, send: Callable[[], Awaitable[httpx.Response]], *, session: bool = False
    ) -> httpx.Response:
        """Send; sort the answer: a success or 308 is returned, anything else raised as what it
        means for the job."""
        try:
            response = await send()
        except httpx.TransportError as exc:
            raise TransientError(f"{type(exc).__name__}") from None
        status = response.status_code
        if status < 300 or status == RESUME_INCOMPLETE:
            return response
        reason, message = google_error(response)
        if status == 401:
            raise _Unauthorized
        if status == 404 and session:
            raise SessionGone
        if (
            status >= 500
            or reason in RATE_REASONS
            or (status == 429 and reason not in QUOTA_REASONS)
        ):
            raise TransientError(f"HTTP {status} {reason}".strip())
        if reason in QUOTA_REASONS:
            until = next_quota_reset(utcnow())
            raise Deferred(
                until,
                f"YouTube's upload quota is used up ({reason}); waiting until it resets at "
                f"{until:%Y-%m-%d %H:%M} UTC (midnight Pacific time).",
            )
        detail = f"{message} ({reason})" if reason else message or "no reason given"
        raise PipelineError(
            f"YouTube refused the request (HTTP {status}): {detail}", retryable=False
        )

    async def _with_retries(self, upload: Upload, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Run `attempt`, refreshing the token once on a 401 and retrying transient failures
        with backoff; an upload step given up on leaves the session for the job's next try."""
        refreshed = False
        for tries in range(1, TRANSIENT_TRIES + 1):
            try:
                return await attempt()
            except _Unauthorized:
                if refreshed:
                    raise PipelineError(
                        "YouTube refused a fresh access token (HTTP 401).", retryable=True
                    ) from None
                self._tokens.pop(upload.account.id, None)
                refreshed = True
            except TransientError as exc:
                if tries == TRANSIENT_TRIES:
                    raise PipelineError(
                        f"YouTube kept failing ({exc}); the upload resumes on the next attempt.",
                        retryable=True,
                    ) from None
                delay_s = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (tries - 1))
                upload.job.log.warning("YouTube: %s; trying again in %.1f s", exc, delay_s)
                await asyncio.sleep(delay_s * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    async def _auth(self, client: httpx.AsyncClient, upload: Upload) -> dict[str, str]:
        token = self._tokens.get(upload.account.id)
        if token is None or not token.fresh:
            token = await self._refresh(client, upload)
        return {"authorization": f"Bearer {token.token}"}

    async def _refresh(self, client: httpx.AsyncClient, upload: Upload) -> AccessToken:
        try:
            token = await refresh(client, upload.grant)
        except InvalidGrant as exc:
            message = (
                f"Google no longer accepts this login ({exc}): connect the account again "
                "(`moneyprinter youtube connect` or the web page)."
            )

            async def disconnect(db: Repositories) -> None:
                await db.accounts.disconnect(upload.account.id, message=message)

            await self._run(disconnect)
            raise PipelineError(
                f"The YouTube account {upload.account.channel_title} was disconnected: {message}",
                retryable=False,
            ) from None
        except OAuthError as exc:
            raise TransientError(str(exc)) from None
        self._tokens[upload.account.id] = token
        return token


class _Unauthorized(Exception):
    """HTTP 401: the access token expired or was revoked."""


def video_resource(options: PublishOptions, metadata: dict[str, Any]) -> dict[str, Any]:
    """The `snippet` and `status` of the video: the request's fields, else the metadata's."""
    title = options.title or strip_angles(str(metadata.get("title") or "")).strip()
    description = options.description or str(metadata.get("description") or "")
    tags = options.tags if options.tags is not None else fitting_tags(metadata.get("tags"))
    status: dict[str, Any] = {
        "privacyStatus": options.privacy,
        "selfDeclaredMadeForKids": options.made_for_kids,
        "containsSyntheticMedia": options.synthetic_media,
    }
    if options.publish_at is not None:
        status["publishAt"] = options.publish_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "snippet": {
            "title": strip_angles(title)[:100] or "MoneyPrinter video",
            "description": strip_angles(description).encode()[:5000].decode(errors="ignore"),
            "tags": [str(tag) for tag in tags],
            "categoryId": options.category_id,
        },
        "status": status,
    }


def fitting_tags(tags: object) -> list[str]:
    """The metadata's tags (an LLM's) that fit YouTube's 500 characters, in order."""
    kept: list[str] = []
    for tag in tags if isinstance(tags, list) else []:
        text = strip_angles(str(tag)).strip()
        if text and youtube_tags_length([*kept, text]) <= MAX_TAGS_CHARS:
            kept.append(text)
    return kept


def strip_angles(text: str) -> str:
    return text.replace("<", "").replace(">", "")


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def check_file(path: Path, size: int, sha256: str) -> None:
    """The file to upload is the one the video job recorded, byte for byte."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
    except OSError:
        raise PipelineError(
            "The video file is gone (retention, or another host's disk).", retryable=False
        ) from None
    if path.stat().st_size != size or digest.hexdigest() != sha256:
        raise PipelineError("The video file changed since it was rendered.", retryable=False)


def read_chunk(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)
