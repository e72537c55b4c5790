"""Publishing to YouTube on each database, against a loopback Google that speaks OAuth 2.0 and the
resumable upload protocol: the original's login files imported and sealed, a video published
from the original's request shape, uploads that survive 5xx answers, dropped connections, an
expired token and a worker killed mid-upload (one video, byte for byte), quota waits, a revoked
login, and the API around it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.crypto import SecretKeyError, new_key
from app.db.models import GenerationJob, Publication, YouTubeAccount
from app.db.repositories import Repositories
from app.db.session import create_sessionmaker
from app.main import create_app
from app.settings import Settings
from app.webhooks import new_secret
from app.youtube import AccountFileError, InvalidGrant
from app.youtube_accounts import import_account
from tests.fakes.google import Google, google_server, original_login_files
from tests.fakes.webhook_receiver import webhook_receiver
from tests.integration.test_api_songs import make_mp3
from tests.integration.test_worker import SHORT_SCRIPT, read_events, read_job, wait_for
from tests.support.processes import moneyprinter_command
from tests.support.running import api_client, running_worker
from worker.main import Worker
from worker.publish import next_quota_reset

Maker = async_sessionmaker[AsyncSession]
CHUNK = 256 * 1024
RUN_TIMEOUT_S = 90.0


@pytest.fixture
def google() -> Iterator[Google]:
    with google_server() as google:
        yield google


@pytest.fixture
def youtube_settings(settings: Settings, google: Google) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": new_key(),
            "youtube_api_url": google.url,
            "youtube_chunk_bytes": CHUNK,
        }
    )


async def connect(settings: Settings, google: Google, tmp_path: Path) -> tuple[int, str]:
    """Import a fresh login; the account's id and its refresh token."""
    refresh_token = google.add_refresh_token()
    secrets_file, token_file = original_login_files(tmp_path / "backend", google, refresh_token)
    account = await import_account(settings, secrets_file, token_file)
    return account.id, refresh_token


def make_video(path: Path) -> None:
    """A real MP4 of about 1.2 MB (five upload chunks), and a thumbnail beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x1136:d=4",
         "-b:v", "2400k", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x568:d=1",
         "-frames:v", "1", str(path.with_name("thumbnail.jpg"))],
        check=True,
    )  # fmt: skip


async def finished_video(maker: Maker, settings: Settings, **spec: Any) -> tuple[str, Path]:
    """A completed video job with its video, thumbnail and metadata, as a render leaves them."""
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(payload={"videoSubject": "octopuses", **spec})
    async with maker.begin() as session:
        (claimed,) = await Repositories(session).leases.claim(
            worker_id="renderer", limit=1, lease_s=60
        )
    folder = settings.jobs_dir / job.id / "1"
    video = folder / "video.mp4"
    make_video(video)
    metadata = folder / "metadata.json"
    metadata.write_text(
        json.dumps(
            {"title": "Octopuses have three hearts", "description": "Facts.", "tags": ["ocean"]}
        )
    )
    async with maker.begin() as session:
        db = Repositories(session)
        for kind, path, mime in (
            ("video", video, "video/mp4"),
            ("thumbnail", video.with_name("thumbnail.jpg"), "image/jpeg"),
            ("metadata", metadata, "application/json"),
        ):
            data = path.read_bytes()
            await db.artifacts.add(
                job.id,
                kind=kind,
                path=path.relative_to(settings.data_dir).as_posix(),
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                mime=mime,
            )
        result = video.relative_to(settings.data_dir).as_posix()
        assert await db.leases.mark_completed(job.id, claimed.lease_token or "", result_path=result)
    return job.id, video


async def publish(client: httpx.AsyncClient, job_id: str, **options: Any) -> str:
    response = await client.post(f"/api/jobs/{job_id}/publish", json=options)
    assert response.status_code == 200, response.text
    publish_id: str = response.json()["jobId"]
    return publish_id


async def wait_ended(maker: Maker, job_id: str, timeout_s: float = RUN_TIMEOUT_S) -> GenerationJob:
    async def ended() -> bool:
        return (await read_job(maker, job_id)).status in ("completed", "failed", "cancelled")

    await wait_for(ended, timeout_s=timeout_s)
    return await read_job(maker, job_id)


def only_video(google: Google) -> Any:
    with google.lock:
        assert len(google.videos) == 1, list(google.videos)
        return next(iter(google.videos.values()))


# -- accounts ---------------------------------------------------------------------------------


async def test_the_originals_login_files_are_imported_and_sealed(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    account_id, refresh_token = await connect(youtube_settings, google, tmp_path)
    async with sessionmaker() as session:
        (account,) = (await session.scalars(select(YouTubeAccount))).all()
    assert account.id == account_id
    assert (account.channel_id, account.channel_title) == ("UC_test_channel", "Test Channel")
    assert account.token_uri == f"{google.url}/token"  # the token file's, as oauth2client used
    assert refresh_token not in account.refresh_token_sealed
    assert google.client_secret not in account.client_secret_sealed

    async with api_client(youtube_settings) as client:
        listed = await client.get("/api/accounts")
    assert listed.json()["accounts"][0]["channelTitle"] == "Test Channel"
    assert listed.json()["accounts"][0]["status"] == "connected"
    assert refresh_token not in listed.text and "sealed" not in listed.text

    # The same channel again replaces the login; a bad file says what is wrong.
    again, _ = await connect(youtube_settings, google, tmp_path)
    assert again == account_id
    secrets_file, token_file = original_login_files(tmp_path / "bad", google, "1//unknown")
    with pytest.raises(InvalidGrant, match=r"no longer accepts the login in main\.py-oauth2\.json"):
        await import_account(youtube_settings, secrets_file, token_file)
    token_file.write_text(json.dumps({**json.loads(token_file.read_text()), "invalid": True}))
    with pytest.raises(AccountFileError, match="marked this login invalid"):
        await import_account(youtube_settings, secrets_file, token_file)
    secrets_file.write_text(json.dumps({"installed": {"client_id": "[[INSERT CLIENT ID HERE]]"}}))
    with pytest.raises(AccountFileError, match="missing or a placeholder"):
        await import_account(youtube_settings, secrets_file, token_file)


async def test_stored_tokens_need_their_key_at_start(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    for key, problem in (("", "is not set"), (new_key(), "is not the key"), ("x", "is not a key")):
        wrong = youtube_settings.model_copy(update={"secret_key": key})
        with pytest.raises(SecretKeyError, match=problem):
            await Worker(wrong, sessionmaker).run(wait=False)
        app = create_app(wrong)
        with pytest.raises(SecretKeyError, match=problem):
            async with app.router.lifespan_context(app):
                pass


async def test_disconnecting_revokes_the_token_at_google(
    youtube_settings: Settings, google: Google, tmp_path: Path
) -> None:
    account_id, refresh_token = await connect(youtube_settings, google, tmp_path)
    async with api_client(youtube_settings) as client:
        response = await client.delete(f"/api/accounts/{account_id}")
        assert response.json()["message"] == "Account disconnected; its token is revoked."
        assert (await client.get("/api/accounts")).json()["accounts"] == []
        assert (await client.delete(f"/api/accounts/{account_id}")).status_code == 404
    assert refresh_token in google.revoked


# -- publishing -------------------------------------------------------------------------------


async def test_the_originals_request_publishes_the_final_video_with_its_metadata(
    youtube_settings: Settings, google: Google, engine: AsyncEngine, tmp_path: Path
) -> None:
    receiver_secret = new_secret()
    with webhook_receiver(receiver_secret) as receiver:
        settings = youtube_settings.model_copy(
            update={
                "webhook_urls": [receiver.url],
                "webhook_secret": receiver_secret,
                "webhook_poll_interval_s": 0.1,
            }
        )
        maker = create_sessionmaker(engine, webhook_endpoints=settings.webhook_urls)
        await connect(settings, google, tmp_path)
        song = make_mp3(tmp_path / "song.mp3")
        async with api_client(settings) as client:
            stored = await client.post(
                "/api/upload-songs", files={"songs": ("song.mp3", song, "audio/mpeg")}
            )
            (song_name,) = stored.json()["songs"]
            body = {
                "videoSubject": "Octopuses",
                "aiModel": "llama3.1:8b",
                "voice": "en_us_001",
                "paragraphNumber": "1",
                "automateYoutubeUpload": True,
                "useMusic": True,
                "customPrompt": "",
                "threads": "2",
                "subtitlesPosition": "center,bottom",
                "color": "#FFFF00",
                "script": SHORT_SCRIPT,
                "quality": "draft",
            }
            video_id = (await client.post("/api/generate", json=body)).json()["jobId"]
            async with running_worker(settings, maker):
                video_job = await wait_ended(maker, video_id)
                assert video_job.status == "completed", video_job.error_message
                publications = (await client.get(f"/api/jobs/{video_id}")).json()["publications"]
                (shown,) = publications
                publish_job = await wait_ended(maker, shown["jobId"])
                assert publish_job.status == "completed", publish_job.error_message

                async def announced() -> bool:
                    types = {r.message["type"] for r in receiver.delivered()}
                    return {"job.completed", "job.published"} <= types

                await wait_for(announced, timeout_s=20)
            shown = (await client.get(f"/api/jobs/{video_id}")).json()["publications"][0]
            artifacts = (await client.get(f"/api/jobs/{video_id}/artifacts")).json()["artifacts"]

    uploaded = only_video(google)
    events = [event.message for event in await read_events(maker, video_id)]
    assert f"Music: {song_name}." in events  # the final cut has the music in it
    final = next(a for a in artifacts if a["kind"] == "video")
    assert hashlib.sha256(uploaded.body).hexdigest() == final["sha256"]  # the final cut, music in
    metadata = json.loads((youtube_settings.data_dir / next(
        a["path"] for a in artifacts if a["kind"] == "metadata"
    )).read_text())  # fmt: skip
    assert uploaded.snippet["title"] == metadata["title"][:100]
    assert uploaded.snippet["tags"] == metadata["tags"]
    assert uploaded.snippet["categoryId"] == "28"
    assert uploaded.status["privacyStatus"] == "private"
    assert uploaded.status["selfDeclaredMadeForKids"] is False
    assert uploaded.status["containsSyntheticMedia"] is True
    assert uploaded.id in google.thumbnails
    assert shown["videoId"] == uploaded.id
    assert shown["url"] == f"https://youtu.be/{uploaded.id}"
    assert shown["thumbnailSet"] is True
    published = next(r for r in receiver.delivered() if r.message["type"] == "job.published")
    assert published.message["data"]["youtube"]["videoId"] == uploaded.id
    assert published.message["data"]["youtube"]["videoJobId"] == video_id


async def test_a_video_that_fails_a_check_waits_for_a_person_unless_told_otherwise(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:s=540x960:r=30:d=8",
         "-pix_fmt", "yuv420p", str(media / "octopuses-hearts-arms.mp4")],
        check=True,
    )  # fmt: skip
    settings = youtube_settings.model_copy(update={"media_dir": media})
    await connect(settings, google, tmp_path)
    body = {
        "videoSubject": "Octopuses", "script": SHORT_SCRIPT, "quality": "draft",
        "footageSource": "local", "automateYoutubeUpload": True,
    }  # fmt: skip
    async with api_client(settings) as client:
        held = (await client.post("/api/generate", json=body)).json()["jobId"]
        anyway = {**body, "publish": {"publishAnyway": True}}
        sent = (await client.post("/api/generate", json=anyway)).json()["jobId"]
        async with running_worker(settings, sessionmaker):
            for job_id in (held, sent):
                assert (await wait_ended(sessionmaker, job_id)).status == "completed"
            (publication,) = (await client.get(f"/api/jobs/{sent}")).json()["publications"]
            assert (await wait_ended(sessionmaker, publication["jobId"])).status == "completed"
        kept = (await client.get(f"/api/jobs/{held}")).json()["publications"]

    held_events = [event.message for event in await read_events(sessionmaker, held)]
    assert kept == []
    assert any(message.startswith("Check failed: black frames") for message in held_events)
    assert any(
        message.startswith("Not published: a check of the video failed") for message in held_events
    )
    assert len(google.videos) == 1


async def test_an_upload_rides_out_5xx_a_dropped_connection_and_an_expired_token(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    video_id, video = await finished_video(sessionmaker, youtube_settings)
    google.faults += ["503-chunk", "drop-chunk", "401-once", "thumbnail-forbidden"]
    async with api_client(youtube_settings) as client:
        publish_id = await publish(
            client, video_id, privacy="unlisted", tags=["a b", "c"], playlistId="PLtest"
        )
        async with running_worker(youtube_settings, sessionmaker):
            job = await wait_ended(sessionmaker, publish_id)
    assert job.status == "completed", job.error_message
    assert job.attempt_count == 1  # all within the one attempt
    assert job.payload["videoSubject"] == "octopuses"  # lists name the video it publishes
    uploaded = only_video(google)
    assert uploaded.body == video.read_bytes()
    assert uploaded.status["privacyStatus"] == "unlisted"
    assert uploaded.snippet["tags"] == ["a b", "c"]
    assert google.playlists["PLtest"] == [uploaded.id]
    assert uploaded.id not in google.thumbnails  # an unverified channel: a warning, not a failure
    warnings = [
        e.message for e in await read_events(sessionmaker, publish_id) if e.level == "warning"
    ]
    assert any("did not take the thumbnail" in message for message in warnings), warnings
    assert len(google.sessions) == 1
    assert any(method == "PUT" for method, _ in google.requests)
    assert google.faults == []


async def test_a_worker_killed_mid_upload_resumes_the_same_upload_on_the_next(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    video_id, video = await finished_video(sessionmaker, youtube_settings)
    async with api_client(youtube_settings) as client:
        publish_id = await publish(client, video_id)
    google.faults += ["slow-chunk"] * 20  # every chunk takes its time, so the kill lands mid-way
    env = {
        **os.environ,
        "DATABASE_URL": youtube_settings.database_url,
        "MONEYPRINTER_DATA_DIR": str(youtube_settings.data_dir),
        "MONEYPRINTER_SECRET_KEY": youtube_settings.secret_key,
        "MONEYPRINTER_YOUTUBE_API_URL": google.url,
        "MONEYPRINTER_YOUTUBE_CHUNK_BYTES": str(CHUNK),
        "MONEYPRINTER_LEASE_S": "2",
        "MONEYPRINTER_HEARTBEAT_INTERVAL_S": "0.5",
        "MONEYPRINTER_POLL_INTERVAL_S": "0.2",
        "MONEYPRINTER_LISTEN_NOTIFY": "false",
    }

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        return subprocess.Popen(
            [*moneyprinter_command(), "worker"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    first = start("first")
    try:

        async def partly_uploaded() -> bool:
            async with sessionmaker() as session:
                row = await session.get(Publication, publish_id, populate_existing=True)
            return row is not None and row.bytes_acknowledged >= CHUNK

        await wait_for(partly_uploaded, timeout_s=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    async with sessionmaker() as session:
        halfway = await session.get(Publication, publish_id)
    assert halfway is not None and 0 < halfway.bytes_acknowledged < halfway.bytes_total
    assert not google.videos
    google.faults.clear()

    second = start("second")
    try:
        job = await wait_ended(sessionmaker, publish_id)
    finally:
        second.terminate()
        second.wait(30)
    assert job.status == "completed", (tmp_path / "second.log").read_text()
    uploaded = only_video(google)
    assert uploaded.body == video.read_bytes()  # byte for byte, once
    assert len(google.sessions) == 1  # the same session, resumed
    messages = [event.message for event in await read_events(sessionmaker, publish_id)]
    assert any("took back" in m or "stopped renewing" in m for m in messages), messages


async def test_a_used_up_quota_waits_for_its_reset_without_failing_or_spending_attempts(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    video_id, _ = await finished_video(sessionmaker, youtube_settings)
    google.faults += ["quota-insert"]
    async with api_client(youtube_settings) as client:
        publish_id = await publish(client, video_id)
        async with running_worker(youtube_settings, sessionmaker):

            async def deferred() -> bool:
                job = await read_job(sessionmaker, publish_id)
                return job.status == "queued" and job.run_at > datetime.now(UTC)

            await wait_for(deferred, timeout_s=30)
            job = await read_job(sessionmaker, publish_id)
            assert job.attempt_count == 0
            assert abs((job.run_at - next_quota_reset(datetime.now(UTC))).total_seconds()) < 5
            last = (await read_events(sessionmaker, publish_id))[-1]
            assert "quota is used up (quotaExceeded)" in last.message
            assert "midnight Pacific time" in last.message
            assert (await read_job(sessionmaker, video_id)).status == "completed"

            async with sessionmaker.begin() as session:  # the reset comes
                await session.execute(
                    update(GenerationJob)
                    .where(GenerationJob.id == publish_id)
                    .values(run_at=datetime.now(UTC))
                )
            job = await wait_ended(sessionmaker, publish_id)
    assert job.status == "completed", job.error_message
    only_video(google)


async def test_a_revoked_login_disconnects_the_account_and_fails_only_the_publish(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    account_id, refresh_token = await connect(youtube_settings, google, tmp_path)
    video_id, _ = await finished_video(sessionmaker, youtube_settings)
    with google.lock:
        google.revoked.append(refresh_token)
    async with api_client(youtube_settings) as client:
        publish_id = await publish(client, video_id)
        async with running_worker(youtube_settings, sessionmaker):
            job = await wait_ended(sessionmaker, publish_id)
        assert job.status == "failed"
        assert job.attempt_count == 1  # not retried: it cannot work until reconnected
        assert "connect the account again" in (job.error_message or "")
        (account,) = (await client.get("/api/accounts")).json()["accounts"]
        assert account["id"] == account_id
        assert account["status"] == "disconnected"
        assert "connect the account again" in account["statusMessage"]
        again = await client.post(f"/api/jobs/{video_id}/publish", json={})
        assert again.status_code == 400
        assert "disconnected" in again.json()["message"] or "No YouTube" in again.json()["message"]
    assert (await read_job(sessionmaker, video_id)).status == "completed"
    assert not google.videos


async def test_publishing_again_gives_the_same_video_and_bad_requests_say_why(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    video_id, _ = await finished_video(sessionmaker, youtube_settings)
    async with api_client(youtube_settings) as client:
        none = await client.post(f"/api/jobs/{video_id}/publish", json={})
        assert none.status_code == 400
        assert none.json()["message"].startswith("publish: No YouTube account is connected")
        await connect(youtube_settings, google, tmp_path)
        queued = (await client.post("/api/generate", json={"videoSubject": "x"})).json()["jobId"]
        busy = await client.post(f"/api/jobs/{queued}/publish", json={})
        assert busy.status_code == 409
        bad = await client.post(
            f"/api/jobs/{video_id}/publish",
            json={"privacy": "public", "publishAt": "2099-01-01T00:00:00Z"},
        )
        assert bad.status_code == 400
        assert "only a private video can be scheduled" in bad.json()["message"]

        first = await publish(
            client, video_id, publishAt="2099-01-01T09:00:00Z", playlistId="PLnone"
        )
        async with running_worker(youtube_settings, sessionmaker):
            assert (await wait_ended(sessionmaker, first)).status == "completed"
            second = await publish(client, video_id)
            assert (await wait_ended(sessionmaker, second)).status == "completed"
            retried = await client.post(f"/api/jobs/{first}/retry")
        assert retried.status_code == 409  # a completed job is not retried
        shown = (await client.get(f"/api/jobs/{video_id}")).json()["publications"]
    uploaded = only_video(google)
    assert uploaded.status["publishAt"] == "2099-01-01T09:00:00Z"
    assert [p["videoId"] for p in shown] == [uploaded.id, uploaded.id]
    messages = [event.message for event in await read_events(sessionmaker, second)]
    assert any("not uploaded again" in message for message in messages)
    warnings = [e.message for e in await read_events(sessionmaker, first) if e.level == "warning"]
    assert any("not in the playlist PLnone" in message for message in warnings), warnings


async def test_a_refusal_names_the_field_and_fails_the_publish_for_good(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    video_id, _ = await finished_video(sessionmaker, youtube_settings)
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    async with api_client(youtube_settings) as client:
        publish_id = await publish(client, video_id, publishAt=soon.isoformat())
    await asyncio.sleep(2.0)  # the schedule passes before any worker runs it
    async with running_worker(youtube_settings, sessionmaker):
        job = await wait_ended(sessionmaker, publish_id)
    assert job.status == "failed"
    assert job.attempt_count == 1, job.error_message
    message = job.error_message or ""
    assert message.startswith("YouTube refused the request (HTTP 400): ")
    assert "status.publishAt" in message and message.endswith("(invalidPublishAt)")
    assert not google.videos


async def test_a_publish_cancelled_mid_upload_resumes_its_upload_when_retried(
    youtube_settings: Settings, google: Google, sessionmaker: Maker, tmp_path: Path
) -> None:
    await connect(youtube_settings, google, tmp_path)
    video_id, video = await finished_video(sessionmaker, youtube_settings)
    google.faults += ["slow-chunk"] * 20
    async with api_client(youtube_settings) as client:
        publish_id = await publish(client, video_id)
        async with running_worker(youtube_settings, sessionmaker):

            async def partly_uploaded() -> bool:
                async with sessionmaker() as session:
                    row = await session.get(Publication, publish_id, populate_existing=True)
                return row is not None and row.bytes_acknowledged >= CHUNK

            await wait_for(partly_uploaded, timeout_s=60)
            assert (await client.post(f"/api/jobs/{publish_id}/cancel")).status_code == 200
            cancelled = await wait_ended(sessionmaker, publish_id, timeout_s=10)
            assert cancelled.status == "cancelled"
            assert not google.videos
            google.faults.clear()
            assert (await client.post(f"/api/jobs/{publish_id}/retry")).status_code == 200
            job = await wait_ended(sessionmaker, publish_id)
    assert job.status == "completed", job.error_message
    assert only_video(google).body == video.read_bytes()
    assert len(google.sessions) == 1
