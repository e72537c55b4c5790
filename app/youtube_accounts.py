"""Connecting accounts from a terminal: `moneyprinter youtube import` and `accounts`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from app.crypto import SecretBox
from app.db.models import YouTubeAccount
from app.db.repositories.accounts import AccountRepository, check_secret_key
from app.db.session import create_engine, create_sessionmaker
from app.settings import Settings
from app.youtube import (
    InvalidGrant,
    own_channel,
    read_client_secrets,
    read_oauth2client_token,
    refresh,
)


async def import_account(settings: Settings, client_secrets: Path, token: Path) -> YouTubeAccount:
    """Store the login of the original's files, once Google has accepted it and named its
    channel. AccountError (or SecretKeyError) says what stands in the way."""
    grant = read_oauth2client_token(token, read_client_secrets(client_secrets))
    box = SecretBox(settings.secret_key)
    async with httpx.AsyncClient(trust_env=False) as client:
        try:
            access = await refresh(client, grant)
        except InvalidGrant as exc:
            raise InvalidGrant(
                f"Google no longer accepts the login in {token.name} ({exc}): connect the "
                "account again (`moneyprinter youtube connect`)"
            ) from None
        channel_id, title = await own_channel(client, settings.youtube_api_url, access)
    engine = create_engine(settings.resolved_database_url)
    try:
        maker = create_sessionmaker(engine)
        await check_secret_key(maker, settings.secret_key)  # the accounts stored share one key
        async with maker.begin() as session:
            return await AccountRepository(session).save(
                channel_id=channel_id,
                channel_title=title,
                client_id=grant.client_id,
                client_secret_sealed=box.seal(grant.client_secret),
                refresh_token_sealed=box.seal(grant.refresh_token),
                token_uri=grant.token_uri,
                scopes=grant.scopes,
            )
    finally:
        await engine.dispose()


async def list_accounts(settings: Settings) -> Sequence[YouTubeAccount]:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await AccountRepository(session).list()
    finally:
        await engine.dispose()
