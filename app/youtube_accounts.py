"""Connecting YouTube accounts: from the original's files (`moneyprinter youtube import`), by the
device flow or a pasted code (`moneyprinter youtube connect`), and from the web page (the routes
in app/api/routes/youtube.py). Each ends the same way: Google names the channel, and the login is
stored sealed with MONEYPRINTER_SECRET_KEY."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from app.crypto import SecretBox
from app.db.models import YouTubeAccount
from app.db.repositories.accounts import AccountRepository, check_secret_key
from app.db.session import create_sessionmaker, settings_engine
from app.settings import Settings
from app.youtube import (
    AccessToken,
    AccountError,
    ClientSecrets,
    DeviceCode,
    Grant,
    InvalidGrant,
    authorization_url,
    exchange_code,
    new_verifier,
    own_channel,
    read_client_secrets,
    read_oauth2client_token,
    refresh,
    start_device,
    wait_for_device,
)

# Where an installed app's consent page sends the code when nothing listens there: the user
# copies the address from the browser (`moneyprinter youtube connect --paste`).
PASTE_REDIRECT_URI = "http://127.0.0.1:1/"


async def save_login(
    accounts: AccountRepository,
    box: SecretBox,
    http: httpx.AsyncClient,
    api_url: str,
    grant: Grant,
    access: AccessToken,
) -> YouTubeAccount:
    """Ask Google whose channel the login is for, and store it (a channel already connected
    gets the new login)."""
    channel_id, title = await own_channel(http, api_url, access)
    return await accounts.save(
        channel_id=channel_id,
        channel_title=title,
        client_id=grant.client_id,
        client_secret_sealed=box.seal(grant.client_secret),
        refresh_token_sealed=box.seal(grant.refresh_token),
        token_uri=grant.token_uri,
        scopes=grant.scopes,
    )


def grant_of(account: YouTubeAccount, box: SecretBox) -> Grant:
    """A stored account's login, its secrets opened with `box` (SecretKeyError with the wrong
    key)."""
    return Grant(
        client_id=account.client_id,
        client_secret=box.open(account.client_secret_sealed),
        refresh_token=box.open(account.refresh_token_sealed),
        token_uri=account.token_uri,
        scopes=tuple(account.scopes.split()),
    )


def client_secrets(settings: Settings, path: Path | None) -> ClientSecrets:
    """The OAuth client that connects accounts: `path`, else MONEYPRINTER_YOUTUBE_CLIENT_SECRETS."""
    chosen = path or settings.youtube_client_secrets
    if chosen is None:
        raise AccountError(
            "no OAuth client: give --client-secrets, or set MONEYPRINTER_YOUTUBE_CLIENT_SECRETS "
            "to the client_secret.json of your Google Cloud project"
        )
    return read_client_secrets(chosen)


async def import_account(settings: Settings, client_secrets: Path, token: Path) -> YouTubeAccount:
    """Store the login of the original's files, once Google has accepted it."""
    grant = read_oauth2client_token(token, read_client_secrets(client_secrets))

    async def sign_in(http: httpx.AsyncClient) -> tuple[Grant, AccessToken]:
        try:
            return grant, await refresh(http, grant)
        except InvalidGrant as exc:
            raise InvalidGrant(
                f"Google no longer accepts the login in {token.name} ({exc}): connect the "
                "account again (`moneyprinter youtube connect`)"
            ) from None

    return await _connect(settings, sign_in)


async def connect_by_device(
    settings: Settings, client: ClientSecrets, announce: Callable[[DeviceCode], None]
) -> YouTubeAccount:
    """The device flow: `announce` shows the user where to go and what code to enter."""

    async def sign_in(http: httpx.AsyncClient) -> tuple[Grant, AccessToken]:
        device = await start_device(http, client)
        announce(device)
        return await wait_for_device(http, client, device)

    return await _connect(settings, sign_in)


async def connect_by_paste(
    settings: Settings, client: ClientSecrets, ask: Callable[[str], Awaitable[str]]
) -> YouTubeAccount:
    """For an installed app's client on a machine without a browser: `ask` shows the consent
    page's address and returns what the user pastes back (the address the browser ended on,
    or just its `code`)."""
    verifier = new_verifier()
    url = authorization_url(
        client, redirect_uri=PASTE_REDIRECT_URI, state="paste", verifier=verifier
    )

    async def sign_in(http: httpx.AsyncClient) -> tuple[Grant, AccessToken]:
        pasted = (await ask(url)).strip()
        query = parse_qs(urlsplit(pasted).query) if "?" in pasted else {}
        if "error" in query:
            raise AccountError(f"Google did not sign in: {query['error'][0]}")
        code = query["code"][0] if "code" in query else pasted
        if not code:
            raise AccountError("nothing was pasted")
        return await exchange_code(
            http, client, code=code, verifier=verifier, redirect_uri=PASTE_REDIRECT_URI
        )

    return await _connect(settings, sign_in)


async def _connect(
    settings: Settings, sign_in: Callable[[httpx.AsyncClient], Awaitable[tuple[Grant, AccessToken]]]
) -> YouTubeAccount:
    box = SecretBox(settings.secret_key)  # before asking anything of the user
    engine = settings_engine(settings)
    try:
        maker = create_sessionmaker(engine)
        await check_secret_key(maker, settings.secret_key)  # the accounts stored share one key
        async with httpx.AsyncClient(trust_env=False) as http:
            grant, access = await sign_in(http)
            async with maker.begin() as session:
                return await save_login(
                    AccountRepository(session), box, http, settings.youtube_api_url, grant, access
                )
    finally:
        await engine.dispose()


async def list_accounts(settings: Settings) -> Sequence[YouTubeAccount]:
    engine = settings_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await AccountRepository(session).list()
    finally:
        await engine.dispose()
