"""Files in a bucket (MONEYPRINTER_STORAGE_URL=s3://…) against a real S3 server on loopback: the
client itself, a job whose files go to the bucket and are served from it with ranges, songs and
voice samples kept there, and retention emptying a pruned job's prefix."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Artifact, GenerationEvent, utcnow
from app.db.repositories import Repositories
from app.settings import Settings
from app.storage import ObjectStore, StorageError, open_store
from tests.integration.test_api_songs import make_mp3
from tests.integration.test_publish import wait_ended
from tests.integration.test_worker import SHORT_SCRIPT, read_job
from tests.support.processes import moneyprinter_command
from tests.support.running import api_client, running_worker
from tests.support.s3 import aws_variables, multipart_uploads, new_bucket, object_keys, s3_server
from worker.bucket import local_file_of
from worker.retention import prune_expired

Maker = async_sessionmaker[AsyncSession]
PREFIX = "tenant-a"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint, aws_variables(endpoint):
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint)


@pytest.fixture
def store(bucket: str) -> ObjectStore:
    return open_store(f"s3://{bucket}/{PREFIX}")


@pytest.fixture
def in_bucket(settings: Settings, bucket: str) -> Settings:
    """The test's settings with every file kept in the bucket."""
    return Settings.model_validate(
        {**settings.model_dump(), "storage_url": f"s3://{bucket}/{PREFIX}"}
    )


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


# -- the client ------------------------------------------------------------------------------


async def test_a_large_file_goes_up_in_parts_and_reads_back_in_ranges(
    store: ObjectStore, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    data = random_file(tmp_path / "video.mp4", 19 * 1024 * 1024)  # three parts

    await store.put_file("jobs/j/1/video.mp4", tmp_path / "video.mp4", content_type="video/mp4")
    middle = await store.read("jobs/j/1/video.mp4", 5_000_000, 5_000_100)
    tail = await store.read("jobs/j/1/video.mp4", -10)
    rest = await store.read("jobs/j/1/video.mp4", len(data) - 3)

    assert object_keys(s3_endpoint, bucket) == [f"{PREFIX}/jobs/j/1/video.mp4"]
    assert (middle.size_bytes, middle.start, middle.end) == (len(data), 5_000_000, 5_000_100)
    assert b"".join([chunk async for chunk in middle.chunks]) == data[5_000_000:5_000_100]
    assert b"".join([chunk async for chunk in tail.chunks]) == data[-10:]
    assert b"".join([chunk async for chunk in rest.chunks]) == data[-3:]
    assert multipart_uploads(s3_endpoint, bucket) == []


async def test_listing_and_deleting_a_prefix(store: ObjectStore, tmp_path: Path) -> None:
    random_file(tmp_path / "a", 10)
    for key in ("jobs/one/1/a", "jobs/one/2/a", "jobs/two/1/a", "songs/a.mp3"):
        await store.put_file(key, tmp_path / "a", content_type="application/octet-stream")

    folders = await store.folders("jobs")
    deleted = await store.delete_prefix("jobs/one")
    left = sorted(found.key for found in await store.list_objects("jobs"))

    assert sorted(folders) == ["one", "two"]
    assert deleted == 2
    assert left == ["jobs/two/1/a"]
    assert await store.head("jobs/one/1/a") is None


async def test_a_missing_bucket_is_an_error_naming_it(s3_endpoint: str, tmp_path: Path) -> None:
    random_file(tmp_path / "a", 10)
    store = open_store("s3://no-such-bucket-here/x")

    with pytest.raises(StorageError) as raised:
        await store.put_file("jobs/j/1/a", tmp_path / "a", content_type="text/plain")

    assert "s3://no-such-bucket-here/x/jobs/j/1/a" in str(raised.value)


async def test_an_upload_killed_midway_leaves_no_object_and_retention_aborts_it(
    in_bucket: Settings, sessionmaker: Maker, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    random_file(tmp_path / "big", 64 * 1024 * 1024)
    uploader = await asyncio.create_subprocess_exec(
        sys.executable, "-c", (
            "import sys; from pathlib import Path; from app.storage import open_store\n"
            "store = open_store(sys.argv[1])\n"
            "store.put_file_sync('jobs/j/1/v.mp4', Path(sys.argv[2]), content_type='video/mp4')\n"
        ), in_bucket.storage_url, str(tmp_path / "big"),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not multipart_uploads(s3_endpoint, bucket) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    uploader.send_signal(signal.SIGKILL)
    await uploader.wait()
    left = multipart_uploads(s3_endpoint, bucket)

    # (moto reports every upload as begun in 2010: that a young one is kept is not seen here.)
    await prune_expired(sessionmaker, in_bucket, now=utcnow() + timedelta(days=2))

    assert object_keys(s3_endpoint, bucket) == []
    assert left == [f"{PREFIX}/jobs/j/1/v.mp4"]
    assert multipart_uploads(s3_endpoint, bucket) == []


def test_settings_refuse_a_store_they_cannot_use(tmp_path: Path) -> None:
    for url, words in (
        ("ftp://host/x", "s3://bucket/prefix"),
        ("s3://", "the bucket"),
        ("file:///elsewhere", "not the data folder"),
    ):
        with pytest.raises(ValueError, match="MONEYPRINTER_STORAGE_URL") as raised:
            Settings(_env_file=None, data_dir=tmp_path, storage_url=url)  # type: ignore[call-arg]
        assert words in str(raised.value)
    data_folder = Settings(_env_file=None, data_dir=tmp_path, storage_url=f"file://{tmp_path}")  # type: ignore[call-arg]
    assert data_folder.object_store is None


# -- serving ---------------------------------------------------------------------------------


async def stored_job(in_bucket: Settings, sessionmaker: Maker, data: bytes) -> tuple[str, int]:
    """A completed job whose video is only in the bucket."""
    store = in_bucket.object_store
    assert store is not None
    async with api_client(in_bucket) as client:
        response = await client.post("/api/generate", json={"videoSubject": "tides"})
    job_id = response.json()["jobId"]
    key = f"jobs/{job_id}/1/video.mp4"
    source = in_bucket.data_dir / "upload.bin"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    await store.put_file(key, source, content_type="video/mp4")
    source.unlink()
    async with sessionmaker.begin() as session:
        db = Repositories(session)
        [job] = await db.leases.claim(worker_id="w", limit=1, lease_s=30)
        artifact = await db.artifacts.add(
            job_id, kind="video", path=key, size_bytes=len(data), store=store.url,
            sha256=hashlib.sha256(data).hexdigest(), mime="video/mp4",
        )  # fmt: skip
        assert await db.leases.mark_completed(job_id, job.lease_token or "", result_path=key)
    return job_id, artifact.id


async def test_a_stored_video_is_served_from_the_bucket_with_ranges(
    in_bucket: Settings, sessionmaker: Maker
) -> None:
    data = os.urandom(300_000)
    job_id, artifact_id = await stored_job(in_bucket, sessionmaker, data)
    url = f"/api/jobs/{job_id}/video"

    async with api_client(in_bucket) as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=1000-1999"})
        tail = await client.get(url, headers={"Range": "bytes=-100"})
        open_ended = await client.get(url, headers={"Range": "bytes=299990-"})
        past_end = await client.get(url, headers={"Range": "bytes=400000-"})
        overlong = await client.get(url, headers={"Range": "bytes=299000-999999"})
        several = await client.get(url, headers={"Range": "bytes=0-1,5-6"})
        by_id = await client.get(f"/api/jobs/{job_id}/artifacts/{artifact_id}")

    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"] == 'inline; filename="video.mp4"'
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert tail.status_code == 206 and tail.content == data[-100:]
    assert open_ended.status_code == 206 and open_ended.content == data[299_990:]
    assert overlong.status_code == 206 and overlong.content == data[299_000:]
    assert overlong.headers["content-range"] == f"bytes 299000-299999/{len(data)}"
    assert past_end.status_code == 416
    assert past_end.headers["content-range"] == f"bytes */{len(data)}"
    assert several.status_code == 200 and several.content == data
    assert by_id.content == data
    assert not (in_bucket.jobs_dir / job_id).exists()


async def test_a_stored_file_gone_from_the_bucket_is_a_404(
    in_bucket: Settings, sessionmaker: Maker
) -> None:
    job_id, _ = await stored_job(in_bucket, sessionmaker, b"video")
    store = in_bucket.object_store
    assert store is not None
    await store.delete_prefix(f"jobs/{job_id}")

    async with api_client(in_bucket) as client:
        response = await client.get(f"/api/jobs/{job_id}/video")

    assert response.status_code == 404
    assert response.json()["message"] == "The file is no longer available."


async def test_a_publish_worker_copies_a_stored_video_into_its_scratch(
    in_bucket: Settings, sessionmaker: Maker, tmp_path: Path
) -> None:
    data = os.urandom(1000)
    _, artifact_id = await stored_job(in_bucket, sessionmaker, data)
    async with sessionmaker() as session:
        artifact = await session.get(Artifact, artifact_id)
    assert artifact is not None

    path = await local_file_of(artifact, data_dir=in_bucket.data_dir, scratch=tmp_path / "s")

    assert path == tmp_path / "s" / "video.mp4" and path.read_bytes() == data


# -- songs and voice samples -----------------------------------------------------------------


async def test_songs_live_in_the_bucket(
    in_bucket: Settings, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    mp3 = make_mp3(tmp_path / "tone.mp3")

    async with api_client(in_bucket) as client:
        uploaded = await client.post(
            "/api/upload-songs", files=[("songs", ("Summer.mp3", mp3, "audio/mpeg"))]
        )
        [name] = uploaded.json()["songs"]
        listed = (await client.get("/api/songs")).json()["songs"]
        played = await client.get(f"/api/songs/{name}", headers={"Range": "bytes=0-9"})
        deleted = await client.delete(f"/api/songs/{name}")
        after = (await client.get("/api/songs")).json()["songs"]
        missing = await client.get(f"/api/songs/{name}")

    assert uploaded.status_code == 200, uploaded.text
    assert [song["name"] for song in listed] == [name]
    assert played.status_code == 206 and len(played.content) == 10
    assert deleted.status_code == 200 and after == [] and missing.status_code == 404
    assert object_keys(s3_endpoint, bucket) == []
    assert not in_bucket.songs_dir.exists()


async def test_a_voice_sample_is_made_once_and_kept_in_the_bucket(
    in_bucket: Settings, s3_endpoint: str, bucket: str
) -> None:
    async with api_client(in_bucket) as client:
        voice = (await client.get("/api/voices")).json()["voices"][0]["id"]
        first = await client.get(f"/api/voices/{voice}/sample")
        again = await client.get(f"/api/voices/{voice}/sample")

    assert first.status_code == 200 and first.content[:4] == b"RIFF"
    assert again.content == first.content
    assert object_keys(s3_endpoint, bucket) == [f"{PREFIX}/voice-samples/{voice}.wav"]
    assert not (in_bucket.data_dir / "voice-samples").exists()


# -- a job from start to end -----------------------------------------------------------------


async def test_a_job_renders_in_scratch_stores_in_the_bucket_and_is_pruned_from_it(
    in_bucket: Settings, sessionmaker: Maker, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    mp3 = make_mp3(tmp_path / "tone.mp3")
    async with api_client(in_bucket) as client:
        uploaded = await client.post(
            "/api/upload-songs", files=[("songs", ("beat.mp3", mp3, "audio/mpeg"))]
        )
        [song] = uploaded.json()["songs"]
        job_id = (
            await client.post(
                "/api/generate",
                json={"videoSubject": "tides", "script": SHORT_SCRIPT, "song": song},
            )
        ).json()["jobId"]
        async with running_worker(in_bucket, sessionmaker):
            await wait_ended(sessionmaker, job_id)
        video = await client.get(f"/api/jobs/{job_id}/video")
        part = await client.get(f"/api/jobs/{job_id}/video", headers={"Range": "bytes=0-1023"})

    job = await read_job(sessionmaker, job_id)
    async with sessionmaker() as session:
        artifacts = (await session.scalars(select(Artifact).where(Artifact.job_id == job_id))).all()
        messages = (
            await session.scalars(
                select(GenerationEvent.message).where(GenerationEvent.job_id == job_id)
            )
        ).all()
    keys = object_keys(s3_endpoint, bucket)

    assert job.status == "completed", job.error_message
    assert {artifact.store for artifact in artifacts} == {f"s3://{bucket}/{PREFIX}"}
    assert {f"{PREFIX}/{artifact.path}" for artifact in artifacts} <= set(keys)
    [row] = [artifact for artifact in artifacts if artifact.kind == "video"]
    assert hashlib.sha256(video.content).hexdigest() == row.sha256
    assert part.status_code == 206 and part.content == video.content[:1024]
    assert any(message.startswith("Stored 9 files") for message in messages)
    assert any(f"Music: {song}" in message for message in messages)
    assert not (in_bucket.jobs_dir / job_id).exists()  # the scratch copy is gone

    pruned = await prune_expired(sessionmaker, in_bucket, now=job.completed_at + timedelta(days=40))

    assert pruned == 1
    assert [key for key in object_keys(s3_endpoint, bucket) if job_id in key] == []


async def test_retention_sweeps_the_objects_of_jobs_no_longer_in_the_table(
    in_bucket: Settings, sessionmaker: Maker, store: ObjectStore, tmp_path: Path
) -> None:
    random_file(tmp_path / "a", 10)
    orphan = "0b8f3c1e-8a4c-4f5e-9a7e-2f1d3c4b5a69"
    await store.put_file(f"jobs/{orphan}/1/video.mp4", tmp_path / "a", content_type="video/mp4")
    await store.put_file("jobs/not-a-job/a", tmp_path / "a", content_type="text/plain")

    kept_young = await prune_expired(sessionmaker, in_bucket)
    swept = await prune_expired(sessionmaker, in_bucket, now=utcnow() + timedelta(days=40))

    assert kept_young == 0 and swept == 0  # no job rows went; the sweep is of objects
    assert await store.list_objects(f"jobs/{orphan}") == []
    assert [found.key for found in await store.list_objects("jobs")] == ["jobs/not-a-job/a"]


# -- moving a data folder into a bucket ------------------------------------------------------


async def local_job(settings: Settings, sessionmaker: Maker, data: bytes) -> tuple[str, int]:
    """A completed job whose video is in the data folder, as before any bucket."""
    async with api_client(settings) as client:
        response = await client.post("/api/generate", json={"videoSubject": "tides"})
    job_id = response.json()["jobId"]
    key = f"jobs/{job_id}/1/video.mp4"
    (settings.data_dir / key).parent.mkdir(parents=True)
    (settings.data_dir / key).write_bytes(data)
    async with sessionmaker.begin() as session:
        db = Repositories(session)
        [job] = await db.leases.claim(worker_id="w", limit=1, lease_s=30)
        artifact = await db.artifacts.add(
            job_id, kind="video", path=key, size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(), mime="video/mp4",
        )  # fmt: skip
        assert await db.leases.mark_completed(job_id, job.lease_token or "", result_path=key)
    return job_id, artifact.id


def storage_copy(settings: Settings, target: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "MONEYPRINTER_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [*moneyprinter_command(), "storage", "copy", "--to", target],
        env=environment, cwd=settings.data_dir.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_storage_copy_moves_a_data_folder_into_a_bucket_and_resumes(
    settings: Settings, sessionmaker: Maker, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    target = f"s3://{bucket}/{PREFIX}"
    first, second, tampered = os.urandom(5000), os.urandom(7000), os.urandom(100)
    first_job, _ = await local_job(settings, sessionmaker, first)
    second_job, second_id = await local_job(settings, sessionmaker, second)
    tampered_job, _ = await local_job(settings, sessionmaker, tampered)
    (settings.jobs_dir / tampered_job / "1" / "video.mp4").write_bytes(b"changed by hand")
    settings.songs_dir.mkdir(parents=True, exist_ok=True)
    (settings.songs_dir / "beat-0123abcd.mp3").write_bytes(make_mp3(tmp_path / "tone.mp3"))
    # A copy that stopped after this upload, before it recorded it.
    store = open_store(target)
    await store.put_file(
        f"jobs/{second_job}/1/video.mp4",
        settings.jobs_dir / second_job / "1" / "video.mp4",
        content_type="video/mp4",
    )

    copied = storage_copy(settings, target)
    again = storage_copy(settings, target)

    assert copied.returncode == 1, copied.stderr  # one file was left behind, and said so
    assert "2 job files, 1 songs and 0 voice samples" in copied.stdout
    assert "(1 were already there)" in copied.stdout
    assert f"jobs/{tampered_job}/1/video.mp4: its content changed" in copied.stdout
    assert "0 job files, 1 songs" in again.stdout and "(1 were already there)" in again.stdout
    async with sessionmaker() as session:
        stores = {
            artifact.job_id: artifact.store
            for artifact in (await session.scalars(select(Artifact))).all()
        }
    assert stores == {first_job: target, second_job: target, tampered_job: ""}
    assert f"{PREFIX}/songs/beat-0123abcd.mp3" in object_keys(s3_endpoint, bucket)
    # The API, still on the data folder, serves each file from where its row says.
    for job_id in (first_job, second_job):
        (settings.jobs_dir / job_id / "1" / "video.mp4").unlink()
    async with api_client(settings) as client:
        moved = await client.get(f"/api/jobs/{second_job}/artifacts/{second_id}")
        part = await client.get(f"/api/jobs/{first_job}/video", headers={"Range": "bytes=10-19"})
    assert moved.content == second
    assert part.status_code == 206 and part.content == first[10:20]


def test_storage_copy_refuses_a_target_that_is_not_a_bucket(settings: Settings) -> None:
    refused = storage_copy(settings, "/srv/elsewhere")

    assert refused.returncode == 2
    assert "is not a bucket: s3://bucket/prefix" in refused.stderr
