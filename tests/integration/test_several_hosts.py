"""Several machines: an API host and two worker hosts, each a network namespace of its own with
an empty data folder, sharing nothing but Postgres and an S3 bucket, both reached over their
links only. Twenty jobs go in through the API host, some playing a song uploaded to it; one
worker host dies mid-render; every job completes on the other, each video is served by the API
host with ranges, and the API host's disk holds nothing of any job.

On SQLite it cannot be done (one database file, one host), and it is skipped saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Artifact, GenerationEvent, GenerationJob
from app.settings import Settings
from tests.integration.test_api_songs import make_mp3
from tests.integration.test_queue_faults import FAST, MEDIUM_SCRIPT
from tests.support.netns import Host, hosts, netns_unusable
from tests.support.processes import moneyprinter_command, wait_until_healthy
from tests.support.s3 import CREDENTIALS, new_bucket, object_keys, s3_server

Maker = async_sessionmaker[AsyncSession]

JOBS = 20
API_PORT = 8080
RUN_TIMEOUT_S = 600.0
SHORT = "Octopuses have three hearts. Each arm can taste what it touches."


@pytest.fixture
def postgres_url(settings: Settings) -> str:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("several hosts share one database server; a SQLite file belongs to one host")
    reason = netns_unusable()
    if reason:
        pytest.skip(reason)
    return settings.resolved_database_url


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


def host_environment(
    host: Host, *, database_url: str, s3_port: int, bucket: str, data_dir: Path
) -> dict[str, str]:
    """A host's settings: the database and the bucket at its gateway, its own data folder."""
    database = make_url(database_url).set(host=host.gateway)
    data_dir.mkdir(parents=True)
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        **FAST,
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": f"http://{host.gateway}:{s3_port}",
        "AWS_REGION": "us-east-1",
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "MONEYPRINTER_STORAGE_URL": f"s3://{bucket}/fleet",
        "MONEYPRINTER_DATA_DIR": str(data_dir),
        "MONEYPRINTER_LLM_PROVIDER": "none",
        "MONEYPRINTER_TTS_PROVIDER": "espeak",
        "MONEYPRINTER_LISTEN_NOTIFY": "true",
        "PYTHONUNBUFFERED": "1",
    }


async def rendering_on(maker: Maker, pid: int) -> bool:
    """Whether the worker process `pid` holds a job that has reached the render."""
    async with maker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(GenerationJob)
            .where(
                GenerationJob.status == "running",
                GenerationJob.worker_id.like(f"%:{pid}:%"),
                GenerationJob.stage == "render",
            )
        )
    return bool(count)


async def finished(maker: Maker) -> int:
    async with maker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(GenerationJob)
                .where(GenerationJob.status.in_(("completed", "failed", "cancelled")))
            )
            or 0
        )


def every_file(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


async def test_an_api_host_and_two_worker_hosts_share_only_postgres_and_a_bucket(
    postgres_url: str, sessionmaker: Maker, s3_endpoint: str, tmp_path: Path
) -> None:
    bucket = new_bucket(s3_endpoint)
    s3_port = int(urlsplit(s3_endpoint).port or 0)
    logs = tmp_path / "logs"
    logs.mkdir()
    with hosts(3) as net:
        net.forward(5432, s3_port)
        api, doomed, survivor = net
        folders = {host.name: tmp_path / f"host-{index}" for index, host in enumerate(net)}

        def start(host: Host, *argv: str) -> subprocess.Popen[bytes]:
            environment = host_environment(
                host, database_url=postgres_url, s3_port=s3_port, bucket=bucket,
                data_dir=folders[host.name],
            )  # fmt: skip
            with (logs / f"{host.name}.log").open("wb") as log:
                return host.popen(
                    [*moneyprinter_command(), *argv], env=environment, cwd=folders[host.name],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip

        api_process = start(api, "api", "--host", api.address, "--port", str(API_PORT))
        base_url = f"http://{api.address}:{API_PORT}"
        wait_until_healthy(api_process, base_url, logs / f"{api.name}.log", timeout_s=60)
        doomed_worker = start(doomed, "worker")
        survivor_worker = start(survivor, "worker")

        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            mp3 = make_mp3(tmp_path / "tone.mp3")
            uploaded = await client.post(
                "/api/upload-songs", files=[("songs", ("beat.mp3", mp3, "audio/mpeg"))]
            )
            [song] = uploaded.json()["songs"]
            job_ids = []
            for number in range(JOBS):
                # The first ones are long enough to be caught in their render.
                script = MEDIUM_SCRIPT if number < 4 else SHORT
                body = {"videoSubject": f"octopus {number}", "script": script, "quality": "draft"}
                if number % 5 == 4:
                    body["song"] = song  # uploaded to the API host, played on a worker host
                response = await client.post("/api/generate", json=body)
                assert response.status_code == 200, response.text
                job_ids.append(response.json()["jobId"])

            deadline = time.monotonic() + RUN_TIMEOUT_S
            while not await rendering_on(sessionmaker, doomed_worker.pid):
                assert time.monotonic() < deadline, "the doomed host never rendered"
                assert doomed_worker.poll() is None, (logs / f"{doomed.name}.log").read_text()
                await asyncio.sleep(0.1)
            doomed.kill_all()  # the machine is gone, mid-render

            while await finished(sessionmaker) < JOBS:
                assert time.monotonic() < deadline, "the jobs did not all finish"
                assert survivor_worker.poll() is None, (logs / f"{survivor.name}.log").read_text()
                await asyncio.sleep(0.5)

            videos = {}
            for job_id in job_ids:
                job = (await client.get(f"/api/jobs/{job_id}")).json()["job"]
                assert job["state"] == "completed", job
                whole = await client.get(f"/api/jobs/{job_id}/video")
                part = await client.get(
                    f"/api/jobs/{job_id}/video", headers={"Range": "bytes=100-1123"}
                )
                assert whole.status_code == 200 and part.status_code == 206
                assert part.content == whole.content[100:1124]
                videos[job_id] = hashlib.sha256(whole.content).hexdigest()

    async with sessionmaker() as session:
        rows = (await session.scalars(select(Artifact).where(Artifact.kind == "video"))).all()
        with_music = (
            await session.scalars(
                select(GenerationEvent.job_id).where(GenerationEvent.message == f"Music: {song}.")
            )
        ).all()
        retried = await session.scalar(
            select(func.count()).select_from(GenerationJob).where(GenerationJob.attempt_count > 1)
        )
    assert {row.job_id: row.sha256 for row in rows} == videos
    assert {row.store for row in rows} == {f"s3://{bucket}/fleet"}
    assert retried and retried >= 1  # the dead host's job ran again on the other
    assert set(with_music) == {job_ids[number] for number in range(4, JOBS, 5)}
    keys = object_keys(s3_endpoint, bucket)
    assert all(f"fleet/jobs/{job_id}/" in " ".join(keys) for job_id in job_ids)
    # Nothing of any job on the API host's disk, nor left in the surviving worker's scratch.
    assert every_file(folders[api.name]) == []
    assert every_file(folders[survivor.name] / "jobs") == []
