"""Dependencies of the routes: settings, the session, the repositories, the song library."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.followers import Followers
from app.db.repositories import (
    AccountRepository,
    ArtifactRepository,
    EventRepository,
    JobRepository,
    PublicationRepository,
    WebhookRepository,
)
from app.errors import BatchNotFound, JobNotFound, NotFound
from app.settings import Settings
from app.songs import BucketSongs, FolderSongs, song_library

# Every dependency here is a coroutine, though none awaits anything: FastAPI runs a plain `def`
# dependency in a worker thread, and the trip there and back costs more than the work.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def get_followers(request: Request) -> Followers:
    followers: Followers = request.app.state.followers
    return followers


SettingsDep = Annotated[Settings, Depends(get_settings)]
FollowersDep = Annotated[Followers, Depends(get_followers)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


async def get_session(maker: SessionmakerDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once when the route returns, rolled back if it
    raises. The commit happens before the response is sent, so a client that reads right after a
    POST sees what it wrote."""
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


# scope="function": the commit runs before the response is sent, not after.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_jobs(session: SessionDep) -> JobRepository:
    return JobRepository(session)


async def get_events(session: SessionDep) -> EventRepository:
    return EventRepository(session)


async def get_artifacts(session: SessionDep) -> ArtifactRepository:
    return ArtifactRepository(session)


async def get_accounts(session: SessionDep) -> AccountRepository:
    return AccountRepository(session)


async def get_publications(session: SessionDep) -> PublicationRepository:
    return PublicationRepository(session)


async def get_webhooks(session: SessionDep) -> WebhookRepository:
    return WebhookRepository(session)


JobsDep = Annotated[JobRepository, Depends(get_jobs)]
EventsDep = Annotated[EventRepository, Depends(get_events)]
ArtifactsDep = Annotated[ArtifactRepository, Depends(get_artifacts)]
AccountsDep = Annotated[AccountRepository, Depends(get_accounts)]
PublicationsDep = Annotated[PublicationRepository, Depends(get_publications)]
WebhooksDep = Annotated[WebhookRepository, Depends(get_webhooks)]


def stored_id(value: str, not_found: Callable[[], NotFound]) -> str:
    """An id from the path in its stored form (a UUID). Anything else names nothing: 404 as for
    any unknown id, without a query (Postgres refuses some such strings outright)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise not_found() from None


async def get_job_id(job_id: str) -> str:
    return stored_id(job_id, JobNotFound)


async def get_batch_id(batch_id: str) -> str:
    return stored_id(batch_id, BatchNotFound)


JobIdDep = Annotated[str, Depends(get_job_id)]
BatchIdDep = Annotated[str, Depends(get_batch_id)]


def songs_of(settings: Settings) -> FolderSongs | BucketSongs:
    return song_library(
        settings.songs_dir, store=settings.object_store, max_song_bytes=settings.max_song_bytes
    )


async def get_song_library(settings: SettingsDep) -> FolderSongs | BucketSongs:
    return songs_of(settings)


SongLibraryDep = Annotated[FolderSongs | BucketSongs, Depends(get_song_library)]
