"""The footage a video used is remembered: the next videos of its subject pick other clips, on
each database, through a real worker, its child and ffmpeg."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import FootageUse
from app.db.repositories import Repositories
from app.domain import VideoSpec
from app.settings import Settings
from worker.main import Worker, footage_owner

Maker = async_sessionmaker[AsyncSession]
SCRIPT = "An octopus swims through the sea."
RUN_TIMEOUT_S = 60.0


def _clip(path: Path, colour: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c={colour}:s=540x960:r=30:d=3",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )  # fmt: skip


async def _render(settings: Settings, maker: Maker, subject: str) -> tuple[str, dict[str, Any]]:
    """Queue and run one job; its id and the clip footage.json says it used."""
    spec = VideoSpec(video_subject=subject, script=SCRIPT, quality="draft", footage_source="local")
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload=spec.model_dump(mode="json", by_alias=True)
        )
    await asyncio.wait_for(Worker(settings, maker).run(wait=False), RUN_TIMEOUT_S)
    async with maker() as session:
        db = Repositories(session)
        done = await db.jobs.get(job.id)
        credits = await db.artifacts.latest(job.id, "footage")
    assert done is not None and done.status == "completed", done and done.error_message
    assert credits is not None
    [scene] = json.loads((settings.data_dir / credits.path).read_text())["scenes"]
    return job.id, scene


async def _warnings(maker: Maker, job_id: str) -> list[str]:
    async with maker() as session:
        events = await Repositories(session).events.list_after(job_id)
    return [event.message for event in events if event.level == "warning"]


async def test_the_next_videos_of_a_subject_use_other_clips(
    settings: Settings, sessionmaker: Maker
) -> None:
    media = settings.footage_dir
    media.mkdir(parents=True)
    _clip(media / "octopus-swimming-in-the-sea.mp4", "navy")
    _clip(media / "octopus-in-the-ocean.mp4", "teal")
    _clip(media / "office-desk.mp4", "gray")  # says nothing of the scene: never offered

    first_id, first = await _render(settings, sessionmaker, "Octopuses")
    second_id, second = await _render(settings, sessionmaker, "  OCTOPUSES ")
    assert {first["id"], second["id"]} == {
        "octopus-swimming-in-the-sea.mp4", "octopus-in-the-ocean.mp4"
    }  # fmt: skip
    assert first["source"] == "local" and first["relevance"] > 0.5
    assert not [m for m in await _warnings(sessionmaker, second_id) if "recent video" in m]

    # Both fitting clips are in the subject's recent videos: one is used again, with a warning.
    third_id, third = await _render(settings, sessionmaker, "octopuses")
    assert third["id"] in {first["id"], second["id"]}
    assert any("recent video" in message for message in await _warnings(sessionmaker, third_id))

    # Another subject has no such memory.
    _other_id, other = await _render(settings, sessionmaker, "Sea life")
    assert other["id"] == first["id"]

    async with sessionmaker() as session:
        rows = (await session.scalars(select(FootageUse).order_by(FootageUse.id))).all()
    assert [(row.job_id, row.clip, row.subject, row.account) for row in rows][:2] == [
        (first_id, f"local:{first['id']}", "octopuses", None),
        (second_id, f"local:{second['id']}", "octopuses", None),
    ]
    assert len(rows) == 4


async def test_recent_reads_the_last_videos_of_the_subject_and_of_the_account(
    sessionmaker: Maker,
) -> None:
    async with sessionmaker.begin() as session:
        db = Repositories(session)
        jobs = [(await db.jobs.create(payload={})).id for _ in range(4)]
        await db.footage.record(jobs[0], ["Pexels:1", "Pexels:2"], subject="Cats", account=None)
        await db.footage.record(jobs[1], ["Pexels:3"], subject="cats", account="youtube:1")
        await db.footage.record(jobs[2], ["Pixabay:4"], subject="dogs", account="youtube:1")
        await db.footage.record(jobs[3], ["local:a.mp4"], subject="cats", account=None)
    async with sessionmaker() as session:
        db = Repositories(session)
        assert await db.footage.recent(subject="CATS", account=None, videos=2) == {
            "Pexels:3", "local:a.mp4"
        }  # fmt: skip
        assert await db.footage.recent(subject="birds", account="youtube:1", videos=1) == {
            "Pixabay:4"
        }  # fmt: skip
        assert await db.footage.recent(subject="cats", account="youtube:1", videos=10) == {
            "Pexels:1", "Pexels:2", "Pexels:3", "local:a.mp4", "Pixabay:4"
        }  # fmt: skip
        assert await db.footage.recent(subject="cats", account=None, videos=0) == set()


async def test_a_publish_to_the_only_account_and_to_it_by_id_share_one_memory(
    sessionmaker: Maker,
) -> None:
    def payload(**publish: object) -> dict[str, object]:
        spec = VideoSpec(video_subject="Tides", script=SCRIPT, publish=publish or None)
        return spec.model_dump(mode="json", by_alias=True)

    async with sessionmaker.begin() as session:
        db = Repositories(session)
        account = await db.accounts.save(
            channel_id="UC123", channel_title="Tides", client_id="id", client_secret_sealed="s",
            refresh_token_sealed="t", token_uri="https://oauth2.example/token", scopes=[],
        )  # fmt: skip
        assert await footage_owner(db, payload()) == ("Tides", None)
        named = await footage_owner(db, payload(accountId=account.id))
        only = await footage_owner(db, payload(privacy="private"))
        assert named == only == ("Tides", f"youtube:{account.id}")
        assert await footage_owner(db, {"videoSubject": ""}) is None  # the child refuses it
