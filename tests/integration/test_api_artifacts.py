"""A job's files over HTTP: the list, the video with Range requests, and nothing outside data."""

from __future__ import annotations

import hashlib

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import Repositories
from app.settings import Settings

VIDEO_BYTES = bytes(range(256)) * 400  # 102 400 bytes standing in for an MP4


async def completed_job(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    video_path: str = "jobs/{id}/1/video.mp4",
) -> tuple[str, int]:
    job_id = (await client.post("/api/generate", json={"videoSubject": "tides"})).json()["jobId"]
    relative = video_path.format(id=job_id)
    target = settings.data_dir / relative
    if ".." not in relative:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(VIDEO_BYTES)
    async with sessionmaker.begin() as session:
        repository = Repositories(session)
        [job] = await repository.leases.claim(worker_id="w", limit=1, lease_s=30)
        artifact = await repository.artifacts.add(
            job_id,
            kind="video",
            path=relative,
            size_bytes=len(VIDEO_BYTES),
            sha256=hashlib.sha256(VIDEO_BYTES).hexdigest(),
            mime="video/mp4",
            media={"durationS": 1.0},
        )
        assert await repository.leases.mark_completed(
            job_id, job.lease_token or "", result_path=relative
        )
    return job_id, artifact.id


async def test_artifacts_are_listed_and_served(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    job_id, artifact_id = await completed_job(client, sessionmaker, settings)

    listed = (await client.get(f"/api/jobs/{job_id}/artifacts")).json()["artifacts"]
    by_id = await client.get(f"/api/jobs/{job_id}/artifacts/{artifact_id}")
    video = await client.get(f"/api/jobs/{job_id}/video")

    assert [(a["id"], a["kind"], a["bytes"], a["mime"]) for a in listed] == [
        (artifact_id, "video", len(VIDEO_BYTES), "video/mp4")
    ]
    assert listed[0]["url"] == f"/api/jobs/{job_id}/artifacts/{artifact_id}"
    assert by_id.content == VIDEO_BYTES
    assert video.status_code == 200 and video.content == VIDEO_BYTES
    assert video.headers["content-type"] == "video/mp4"
    assert video.headers["accept-ranges"] == "bytes"
    assert video.headers["content-disposition"].startswith("inline")


async def test_video_supports_range_requests(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    job_id, _ = await completed_job(client, sessionmaker, settings)

    part = await client.get(f"/api/jobs/{job_id}/video", headers={"Range": "bytes=1000-1999"})
    tail = await client.get(f"/api/jobs/{job_id}/video", headers={"Range": "bytes=-100"})

    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(VIDEO_BYTES)}"
    assert part.content == VIDEO_BYTES[1000:2000]
    assert tail.status_code == 206 and tail.content == VIDEO_BYTES[-100:]


async def test_missing_things_are_404(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    queued = (await client.post("/api/generate", json={"videoSubject": "x"})).json()["jobId"]
    unknown = "00000000-0000-4000-8000-000000000000"

    no_video = await client.get(f"/api/jobs/{queued}/video")
    no_job = await client.get(f"/api/jobs/{unknown}/video")
    no_artifacts = await client.get(f"/api/jobs/{unknown}/artifacts")
    no_artifact = await client.get(f"/api/jobs/{queued}/artifacts/99")
    bad_id = await client.get(f"/api/jobs/{queued}/artifacts/abc")

    assert no_video.status_code == 404
    assert no_video.json()["message"] == "The job has no video (yet)."
    assert no_job.status_code == 404 and no_job.json()["message"] == "Job not found."
    assert no_artifacts.status_code == 404
    assert no_artifact.status_code == 404
    assert no_artifact.json()["message"] == "Artifact not found."
    assert bad_id.status_code == 400


async def test_files_gone_or_outside_the_data_folder_are_not_served(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    outside = settings.data_dir.parent / "secret.txt"
    outside.write_text("not yours")
    job_id, artifact_id = await completed_job(
        client, sessionmaker, settings, video_path="../secret.txt"
    )

    response = await client.get(f"/api/jobs/{job_id}/artifacts/{artifact_id}")

    assert response.status_code == 404
    assert response.json()["message"] == "The file is no longer available."


async def test_an_artifact_is_served_only_from_its_own_job_folder(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # The attack: artifact rows naming a file of the data folder that is not the job's own.
    owner, _ = await completed_job(client, sessionmaker, settings)
    borrowed = await completed_job(
        client, sessionmaker, settings, video_path=f"jobs/{owner}/1/video.mp4"
    )
    elsewhere = await completed_job(client, sessionmaker, settings, video_path="songs/x.mp3")
    linked_job, linked_id = await completed_job(
        client, sessionmaker, settings, video_path="jobs/{id}/1/linked.mp4"
    )
    outside = settings.data_dir.parent / "outside.txt"
    outside.write_text("not yours")
    link = settings.jobs_dir / linked_job / "1" / "linked.mp4"
    link.unlink()
    link.symlink_to(outside)

    answers = [
        await client.get(f"/api/jobs/{job_id}/{route}")
        for job_id, artifact_id in (borrowed, elsewhere, (linked_job, linked_id))
        for route in (f"artifacts/{artifact_id}", "video")
    ]
    own = await client.get(f"/api/jobs/{owner}/video")

    for answer in answers:
        assert answer.status_code == 404, answer.request.url
        assert answer.json() == {"status": "error", "message": "The file is no longer available."}
    assert own.status_code == 200 and own.content == VIDEO_BYTES
