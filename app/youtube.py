"""YouTube accounts: Google's OAuth 2.0 files and token endpoint, and the channel a token is for.

What the API and the worker share about an account: reading the original MoneyPrinter's files
(Google's client secrets, oauth2client's token file), refreshing an access token, revoking, and
asking which channel a token belongs to. The upload itself is the worker's (worker/publish.py).

Endpoints come from the files, as Google's libraries take them: `token_uri` from the client
secrets (or the token file), and the revoke endpoint beside it (its last path segment `token`
becomes `revoke`: `https://oauth2.googleapis.com/revoke`). The Data API is at
MONEYPRINTER_YOUTUBE_API_URL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

# Uploading needs `youtube.upload`; the device flow cannot grant it, and `youtube` covers it.
UPLOAD_SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube",
)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
TIMEOUT_S = 30.0
# Refresh this long before Google's stated expiry, so a token never lapses mid-request.
EXPIRY_MARGIN_S = 60.0


class AccountError(Exception):
    """An account cannot be connected or used; the message says why."""


class AccountFileError(AccountError):
    """A client secrets or token file that cannot be used."""


class InvalidGrant(AccountError):
    """Google refused the refresh token (revoked, expired, or the app's access removed)."""


class OAuthError(AccountError):
    """The token endpoint failed otherwise (down, refused the client): worth trying later."""


@dataclass(frozen=True)
class ClientSecrets:
    client_id: str
    client_secret: str
    token_uri: str
    auth_uri: str


@dataclass(frozen=True)
class Grant:
    """What an account needs to get access tokens: the client and its refresh token."""

    client_id: str
    client_secret: str
    refresh_token: str
    token_uri: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: float  # time.monotonic()

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - EXPIRY_MARGIN_S


def watch_url(video_id: str) -> str:
    """Where a YouTube video is watched."""
    return f"https://youtu.be/{video_id}"


def read_client_secrets(path: Path) -> ClientSecrets:
    """Google's client secrets file (`client_secret.json`): one key, `installed` or `web`."""
    document = _read_json(path, "client secrets")
    if not isinstance(document, dict) or len(document) != 1:
        raise AccountFileError(
            f"{path.name}: a client secrets file holds one object, `installed` or `web`"
        )
    kind, client = next(iter(document.items()))
    if kind not in ("installed", "web") or not isinstance(client, dict):
        raise AccountFileError(f"{path.name}: expected `installed` or `web`, found {kind!r}")
    values = {}
    for name in ("client_id", "client_secret"):
        value = client.get(name)
        if not isinstance(value, str) or not value or value.startswith("[["):
            raise AccountFileError(f"{path.name}: `{kind}.{name}` is missing or a placeholder")
        values[name] = value
    return ClientSecrets(
        client_id=values["client_id"],
        client_secret=values["client_secret"],
        token_uri=str(client.get("token_uri") or DEFAULT_TOKEN_URI),
        auth_uri=str(client.get("auth_uri") or "https://accounts.google.com/o/oauth2/auth"),
    )


def read_oauth2client_token(path: Path, client: ClientSecrets) -> Grant:
    """The original's stored login (`main.py-oauth2.json`, oauth2client's `Storage` format): its
    refresh token, for the client of `client`, refreshed where the file says (its `token_uri`,
    which oauth2client copied from the client secrets when it signed in, and refreshed at
    since), else where the client secrets say."""
    document = _read_json(path, "token")
    if not isinstance(document, dict):
        raise AccountFileError(f"{path.name}: not an oauth2client token file")
    if document.get("invalid"):
        raise AccountFileError(
            f"{path.name}: oauth2client marked this login invalid; connect the account again"
        )
    refresh_token = document.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise AccountFileError(f"{path.name}: holds no refresh token")
    if document.get("client_id") not in (None, client.client_id):
        raise AccountFileError(
            f"{path.name}: the login belongs to another OAuth client than the client secrets"
        )
    scopes = document.get("scopes") or UPLOAD_SCOPES
    return Grant(
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=refresh_token,
        token_uri=str(document.get("token_uri") or client.token_uri),
        scopes=tuple(str(scope) for scope in scopes),
    )


def revoke_uri(token_uri: str) -> str:
    return _beside_token_uri(token_uri, "revoke")


def device_uri(token_uri: str) -> str:
    """The device flow's endpoint, beside the token endpoint (`…/device/code`)."""
    return _beside_token_uri(token_uri, "device/code")


def _beside_token_uri(token_uri: str, name: str) -> str:
    base, _, last = token_uri.rstrip("/").rpartition("/")
    return f"{base}/{name}" if last == "token" else f"{token_uri.rstrip('/')}/{name}"


# -- connecting: the authorization code flow with PKCE, and the device flow --------------------


def new_verifier() -> str:
    """A PKCE code verifier: 64 characters of the unreserved set."""
    return secrets.token_urlsafe(48)


def authorization_url(
    client: ClientSecrets, *, redirect_uri: str, state: str, verifier: str
) -> str:
    """Google's consent page for uploading to a channel: the code comes back to `redirect_uri`
    with `state`; `access_type=offline` and `prompt=consent` make Google send a refresh token
    even to a client the user had allowed before."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(UPLOAD_SCOPES),
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    return f"{client.auth_uri}?{urlencode(query)}"


async def exchange_code(
    http: httpx.AsyncClient, client: ClientSecrets, *, code: str, verifier: str, redirect_uri: str
) -> tuple[Grant, AccessToken]:
    """The login that the consent page's `code` stands for."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    body = await _token_request(http, client.token_uri, form)
    if "error" in body:
        raise AccountError(f"Google refused the sign-in: {_describe(body)}")
    return _login(client, body)


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_url: str
    interval_s: float
    expires_in_s: float


async def start_device(http: httpx.AsyncClient, client: ClientSecrets) -> DeviceCode:
    """Ask for a device code: the user enters `user_code` at `verification_url` on any device.
    The device flow cannot ask for `youtube.upload`; `youtube` covers uploads."""
    form = {"client_id": client.client_id, "scope": UPLOAD_SCOPES[1]}
    try:
        response = await http.post(device_uri(client.token_uri), data=form, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise OAuthError(f"Google's device endpoint did not answer: {type(exc).__name__}") from None
    body = _json(response)
    if response.status_code != 200 or "device_code" not in body:
        raise AccountError(
            f"Google refused a device code ({_describe(body)}): the device flow needs an OAuth "
            "client of the type 'TVs and Limited Input devices'"
        )
    return DeviceCode(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"]),
        verification_url=str(body.get("verification_url") or body.get("verification_uri")),
        interval_s=float(body.get("interval") or 5),
        expires_in_s=float(body.get("expires_in") or 1800),
    )


async def wait_for_device(
    http: httpx.AsyncClient, client: ClientSecrets, device: DeviceCode
) -> tuple[Grant, AccessToken]:
    """Poll until the user has approved (or refused) the device, at the pace Google asks."""
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": device.device_code,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    interval_s, deadline = device.interval_s, time.monotonic() + device.expires_in_s
    while time.monotonic() < deadline:
        await asyncio.sleep(interval_s)
        body = await _token_request(http, client.token_uri, form)
        error = body.get("error")
        if error is None:
            return _login(client, body)
        if error == "slow_down":
            interval_s += 5
        elif error != "authorization_pending":
            raise AccountError(f"The device was not approved: {_describe(body)}")
    raise AccountError("The device code expired before it was approved: run the command again")


async def _token_request(
    http: httpx.AsyncClient, token_uri: str, form: dict[str, str]
) -> dict[str, Any]:
    try:
        response = await http.post(token_uri, data=form, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise OAuthError(f"the token endpoint did not answer: {type(exc).__name__}") from None
    body = _json(response)
    if response.status_code >= 500 or not body:
        raise OAuthError(f"the token endpoint answered {response.status_code}")
    return body


def _login(client: ClientSecrets, body: dict[str, Any]) -> tuple[Grant, AccessToken]:
    refresh_token = body.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        raise AccountError(
            "Google sent no refresh token: remove this app's access at "
            "https://myaccount.google.com/permissions, then connect again"
        )
    grant = Grant(
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=refresh_token,
        token_uri=client.token_uri,
        scopes=tuple(str(body.get("scope") or " ".join(UPLOAD_SCOPES)).split()),
    )
    return grant, _access_token(body)


def _access_token(body: dict[str, Any]) -> AccessToken:
    """The access token of a token endpoint's answer, with when it expires."""
    expires_in_s = float(body.get("expires_in") or 3600)
    return AccessToken(str(body["access_token"]), time.monotonic() + expires_in_s)


def _describe(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict):  # an API error, not an OAuth one
        return str(error.get("message") or error.get("status") or "error")
    detail = body.get("error_description")
    return f"{error}: {detail}" if detail else str(error or "no reason given")


async def refresh(client: httpx.AsyncClient, grant: Grant) -> AccessToken:
    """A new access token for `grant`. InvalidGrant when Google refuses the refresh token."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": grant.refresh_token,
        "client_id": grant.client_id,
        "client_secret": grant.client_secret,
    }
    body = await _token_request(client, grant.token_uri, form)
    if body.get("error") == "invalid_grant":
        raise InvalidGrant(str(body.get("error_description") or "invalid_grant"))
    if not isinstance(body.get("access_token"), str):
        raise OAuthError(f"the token endpoint refused the refresh: {_describe(body)}")
    return _access_token(body)


async def revoke(client: httpx.AsyncClient, grant: Grant) -> None:
    """Revoke the refresh token at Google (and with it the app's access to the channel). An
    already invalid token is no error."""
    try:
        await client.post(
            revoke_uri(grant.token_uri), data={"token": grant.refresh_token}, timeout=TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        raise OAuthError(f"the revoke endpoint did not answer: {type(exc).__name__}") from None


async def own_channel(
    client: httpx.AsyncClient, api_url: str, token: AccessToken
) -> tuple[str, str]:
    """The id and title of the channel the token is for."""
    response = await client.get(
        f"{api_url.rstrip('/')}/youtube/v3/channels",
        params={"part": "snippet", "mine": "true"},
        headers={"authorization": f"Bearer {token.token}"},
        timeout=TIMEOUT_S,
    )
    items = _json(response).get("items") if response.status_code == 200 else None
    if not items:
        raise OAuthError(f"YouTube did not name the channel (HTTP {response.status_code})")
    return str(items[0]["id"]), str(items[0].get("snippet", {}).get("title", ""))


def google_error(response: httpx.Response) -> tuple[str, str]:
    """The `reason` and `message` of a Google API error answer (empty when it has none)."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("reason") or ""), str(error.get("message") or first.get("message") or "")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountFileError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AccountFileError(f"{path.name}: not a JSON {what} file") from None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
