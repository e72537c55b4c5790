"""Connecting a YouTube account, on each database, against a loopback Google: from the browser
(authorization code with PKCE, back through the open callback even with an API key set), from a
terminal with the device flow, and by pasting the code back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.crypto import SecretBox, new_key
from app.settings import Settings
from app.youtube import DeviceCode, read_client_secrets
from app.youtube_accounts import connect_by_device, connect_by_paste
from tests.fakes.google import Google, google_server
from tests.support.running import api_client

CALLBACK = "http://testserver/api/accounts/oauth/callback"
KEY = "connect-test-key"


@pytest.fixture
def google() -> Iterator[Google]:
    with google_server() as google:
        yield google


@pytest.fixture
def connecting(settings: Settings, google: Google, tmp_path: Path) -> Settings:
    secrets_file = google.write_client_secrets(
        tmp_path / "client_secret.json", redirect_uris=(CALLBACK,)
    )
    return settings.model_copy(
        update={
            "secret_key": new_key(),
            "youtube_api_url": google.url,
            "youtube_client_secrets": secrets_file,
            "api_key": KEY,
        }
    )


def consent(url: str) -> str:
    """What the browser does at Google's consent page when the user allows: the address Google
    sends it back to."""
    response = httpx.get(f"{url}&auto=1", follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_the_browser_flow_connects_through_googles_consent_and_back(
    connecting: Settings, google: Google
) -> None:
    async with api_client(connecting) as client:
        client.headers["X-API-Key"] = KEY
        started = await client.post("/api/accounts/connect")
        assert started.status_code == 200, started.text
        url = started.json()["authorizationUrl"]
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{google.url}/o/oauth2/v2/auth?")
        assert query["redirect_uri"] == [CALLBACK]
        assert query["code_challenge_method"] == ["S256"]
        assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
        assert "https://www.googleapis.com/auth/youtube.upload" in query["scope"][0].split()

        back = consent(url)
        assert back.startswith(f"{CALLBACK}?")
        del client.headers["X-API-Key"]  # Google's redirect carries no key
        landed = await client.get(local(back))
        assert landed.status_code == 303
        assert landed.headers["location"] == "/#/accounts?connected=1"

        client.headers["X-API-Key"] = KEY
        (account,) = (await client.get("/api/accounts")).json()["accounts"]
    assert (account["channelId"], account["status"]) == ("UC_test_channel", "connected")
    assert len(google.refresh_tokens) == 1  # the one the code exchange made


async def test_a_callback_that_was_not_started_here_connects_nothing(
    connecting: Settings, google: Google
) -> None:
    async with api_client(connecting) as client:
        client.headers["X-API-Key"] = KEY
        url = (await client.post("/api/accounts/connect")).json()["authorizationUrl"]
        code = parse_qs(urlsplit(consent(url)).query)["code"][0]
        del client.headers["X-API-Key"]

        forged = await client.get("/api/accounts/oauth/callback", params={"code": code})
        assert "not+started+here" in forged.headers["location"]
        denied = await client.get("/api/accounts/oauth/callback", params={"error": "access_denied"})
        assert "access_denied" in denied.headers["location"]
        # Sealed with the server's key but another verifier: Google's PKCE check refuses it.
        state = SecretBox(connecting.secret_key).seal(
            json.dumps({"verifier": "x" * 64, "redirectUri": CALLBACK})
        )
        wrong = await client.get(
            "/api/accounts/oauth/callback", params={"code": code, "state": state}
        )
        assert "Google+refused+the+sign-in" in wrong.headers["location"]

        client.headers["X-API-Key"] = KEY
        assert (await client.get("/api/accounts")).json()["accounts"] == []


async def test_connecting_needs_an_oauth_client_and_a_secret_key(connecting: Settings) -> None:
    for update, problem in (
        ({"youtube_client_secrets": None}, "MONEYPRINTER_YOUTUBE_CLIENT_SECRETS"),
        ({"secret_key": ""}, "MONEYPRINTER_SECRET_KEY is not set"),
    ):
        async with api_client(connecting.model_copy(update=update)) as client:
            response = await client.post("/api/accounts/connect", headers={"X-API-Key": KEY})
        assert response.status_code == 400
        assert problem in response.json()["message"]


async def test_a_terminal_connects_with_the_device_flow(
    connecting: Settings, google: Google
) -> None:
    shown: list[DeviceCode] = []

    def announce(device: DeviceCode) -> None:
        shown.append(device)
        google.approve_device(device.user_code)  # the user, on their phone

    client = read_client_secrets(connecting.youtube_client_secrets or Path())
    account = await connect_by_device(connecting, client, announce)
    assert account.channel_id == "UC_test_channel"
    assert shown[0].verification_url == f"{google.url}/device"


async def test_a_terminal_connects_with_a_pasted_address(
    connecting: Settings, google: Google
) -> None:
    async def ask(url: str) -> str:
        assert "code_challenge=" in url
        return consent(url)  # the address the browser ended on, pasted whole

    client = read_client_secrets(connecting.youtube_client_secrets or Path())
    account = await connect_by_paste(connecting, client, ask)
    assert account.channel_title == "Test Channel"
