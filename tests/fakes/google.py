"""Google's OAuth 2.0 server and the YouTube Data API v3 as their documentation describes them:
the token endpoint (refresh token, authorization code with PKCE, device code), a consent page,
revocation, `channels.list`, `videos.list`, the resumable upload protocol of `videos.insert`,
`thumbnails.set` and `playlistItems.insert`. Tests read and change the server's state, and queue
one-shot faults in `Google.faults`, each taken by the next request it applies to: upload PUTs
with bytes take "503-chunk", "drop-chunk" and "slow-chunk", upload inits "quota-insert" and
"upload-limit", thumbnails.set "thumbnail-forbidden", and any request with a Bearer token
"401-once"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.server import serving

SCOPES = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube"
CHUNK = 256 * 1024  # resumable uploads go in multiples of this, except the last chunk
SLOW_S = 2.0  # "slow-chunk": seconds per CHUNK received
MAX_THUMBNAIL = 2 * 1024 * 1024
QUOTA = "The request cannot be completed because you have exceeded your quota."
INVALID_GRANT = dict(error="invalid_grant", error_description="Token has been expired or revoked.")
INVALID_CLIENT = dict(error="invalid_client", error_description="Unauthorized")


def google_error(code: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    """An error body in the shape every Google API answers with."""
    errors = [{"message": message, "domain": domain, "reason": reason}]
    return {"error": {"code": code, "message": message, "errors": errors}}


UNAUTHENTICATED = google_error(401, "authError", "Request had invalid authentication credentials.")
UNAUTHENTICATED["error"]["status"] = "UNAUTHENTICATED"


@dataclass
class Video:
    id: str
    snippet: dict[str, Any]
    status: dict[str, Any]
    body: bytes

    def resource(self, parts: set[str] | None = None) -> dict[str, Any]:
        """The video resource as the API returns it, with only `parts` if given."""
        resource: dict[str, Any] = {"kind": "youtube#video", "id": self.id}
        for name, value in (("snippet", self.snippet), ("status", self.status)):
            if parts is None or name in parts:
                resource[name] = value
        return resource


@dataclass
class UploadSession:
    id: str
    metadata: dict[str, Any]
    total: int
    channel_id: str
    received: bytearray = field(default_factory=bytearray)
    video_id: str | None = None
    # Bumped by every PUT, so that a request superseded by a later one stores nothing.
    generation: int = 0


@dataclass
class DeviceGrant:
    user_code: str
    scope: str
    channel_id: str | None = None  # set once the user approves


@dataclass
class Google:
    """What the fake knows; tests read and change it, holding `lock` while requests may run."""

    url: str
    client_id: str = "test-client.apps.googleusercontent.com"
    client_secret: str = "test-client-secret"
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> channel id
    access_tokens: dict[str, str] = field(default_factory=dict)  # token -> channel id
    channels: dict[str, str] = field(default_factory=lambda: {"UC_test_channel": "Test Channel"})
    videos: dict[str, Video] = field(default_factory=dict)
    sessions: dict[str, UploadSession] = field(default_factory=dict)
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    access_token_ttl_s: int = 3600
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> consent parameters
    devices: dict[str, DeviceGrant] = field(default_factory=dict)  # by device code
    expires_at: dict[str, float] = field(default_factory=dict)  # access token -> monotonic time
    granted_by: dict[str, str] = field(default_factory=dict)  # access token -> refresh token
    # The channel's playlists: id -> the video ids in it, in order.
    playlists: dict[str, list[str]] = field(default_factory=lambda: {"PLtest": []})

    def add_refresh_token(self, channel_id: str = "UC_test_channel") -> str:
        """Make and register a fresh refresh token for `channel_id`."""
        with self.lock:
            return self.new_refresh_token(channel_id)

    def approve_device(self, user_code: str, channel_id: str | None = None) -> None:
        """Do what the user does on the verification page: approve the device with `user_code`."""
        with self.lock:
            for grant in self.devices.values():
                if grant.user_code == user_code:
                    grant.channel_id = channel_id or next(iter(self.channels))
                    return
        raise KeyError(user_code)

    def write_client_secrets(
        self,
        path: Path,
        *,
        kind: str = "web",
        redirect_uris: tuple[str, ...] = ("http://localhost",),
        token_uri: str | None = None,
    ) -> Path:
        """Google's client secrets file (`client_secret.json`) of this fake's OAuth client, of
        `kind` (`web` or `installed`); its token endpoint is this fake's unless `token_uri`."""
        client = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "auth_uri": f"{self.url}/o/oauth2/v2/auth",
            "token_uri": token_uri or f"{self.url}/token",
            "redirect_uris": list(redirect_uris),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({kind: client}))
        return path

    def expire_access_tokens(self) -> None:
        """Let every access token issued so far expire."""
        with self.lock:
            self.expires_at = dict.fromkeys(self.expires_at, 0.0)

    # The methods below expect the caller to hold `lock`.

    def new_refresh_token(self, channel_id: str) -> str:
        token = "1//" + secrets.token_urlsafe(32)
        self.refresh_tokens[token] = channel_id
        return token

    def is_revoked(self, token: str) -> bool:
        """Revoking a refresh token or any access token minted from it revokes them all."""
        refresh = self.granted_by.get(token, token)
        return any(self.granted_by.get(gone, gone) == refresh for gone in self.revoked)

    def tokens(self, channel_id: str, refresh: str | None, scope: str) -> dict[str, Any]:
        """A token response; with a new refresh token when `refresh` is None."""
        answer: dict[str, Any] = {}
        if refresh is None:
            refresh = answer["refresh_token"] = self.new_refresh_token(channel_id)
        access = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[access] = channel_id
        self.expires_at[access] = time.monotonic() + self.access_token_ttl_s
        self.granted_by[access] = refresh
        ttl = self.access_token_ttl_s
        answer.update(access_token=access, expires_in=ttl, scope=scope, token_type="Bearer")
        return answer


def original_login_files(folder: Path, google: Google, refresh_token: str) -> tuple[Path, Path]:
    """The original MoneyPrinter's two files, as its first upload left them: Google's client
    secrets (an installed app's, whose token endpoint the tests cannot reach: the token file's
    own `token_uri` is the one to use) and oauth2client's token file, holding `refresh_token`."""
    secrets_file = google.write_client_secrets(
        folder / "client_secret.json",
        kind="installed",
        token_uri="https://oauth2.googleapis.com/token",
    )
    token_file = folder / "main.py-oauth2.json"
    token = {
        "access_token": "ya29.old",
        "client_id": google.client_id,
        "client_secret": google.client_secret,
        "refresh_token": refresh_token,
        "token_expiry": "2024-01-01T00:00:00Z",
        "token_uri": f"{google.url}/token",
        "user_agent": None,
        "revoke_uri": "https://oauth2.googleapis.com/revoke",
        "id_token": None,
        "id_token_jwt": None,
        "token_response": {},
        "scopes": [
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtubepartner",
        ],
        "token_info_uri": "https://oauth2.googleapis.com/tokeninfo",
        "invalid": False,
        "_class": "OAuth2Credentials",
        "_module": "oauth2client.client",
    }
    token_file.write_text(json.dumps(token))
    return secrets_file, token_file


def pkce_matches(code: dict[str, str], verifier: str) -> bool:
    challenge = code.get("code_challenge", "")
    if challenge and code.get("code_challenge_method", "plain") == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return not challenge or hmac.compare_digest(verifier, challenge)


def in_future(value: Any) -> bool:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) > datetime.now(UTC)


def fits(value: Any, limit: int) -> bool:
    """A string of at most `limit` characters without the `<` and `>` YouTube refuses."""
    return isinstance(value, str) and len(value) <= limit and not set("<>") & set(value)


def metadata_problem(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """The reason videos.insert refuses `metadata` with and the field at fault, or None."""
    snippet, status = metadata.get("snippet") or {}, metadata.get("status") or {}
    title, description = snippet.get("title", ""), snippet.get("description", "")
    tags, privacy = snippet.get("tags", []), status.get("privacyStatus", "public")
    if not fits(title, 100) or not title.strip():
        return "invalidTitle", "snippet.title"
    if not fits(description, 5000) or len(description.encode()) > 5000:
        return "invalidDescription", "snippet.description"
    # YouTube counts a tag holding a space as if quoted, and a comma between tags: 500 at most.
    if not isinstance(tags, list) or sum(len(str(t)) + 2 * (" " in str(t)) + 1 for t in tags) > 501:
        return "invalidTags", "snippet.tags"
    if privacy not in ("public", "private", "unlisted"):
        return "invalidVideoMetadata", "status.privacyStatus"
    if "publishAt" in status and (privacy != "private" or not in_future(status["publishAt"])):
        return "invalidPublishAt", "status.publishAt"
    return None


def parse_content_range(header: str | None, length: int, total: int) -> tuple[int, int] | None:
    """`(first, end)` of the bytes a PUT carries, or None for a probe (`bytes */TOTAL`)."""
    if header is None:  # the whole file in one request
        if length != total:
            raise ValueError("Without Content-Range the body must be the whole file")
        return 0, length
    match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", header.strip())
    if match is None:
        raise ValueError(f"Malformed Content-Range: {header}")
    if match[3] != "*" and int(match[3]) != total:
        raise ValueError(f"Content-Range total is not X-Upload-Content-Length {total}")
    if match[1] is None:
        if length:
            raise ValueError("A probe must have an empty body")
        return None
    first, end = int(match[1]), int(match[2]) + 1
    if end - first != length or end > total:
        raise ValueError(f"Content-Range {header} does not match a body of {length} bytes")
    return first, end


class GoogleHandler(BaseHTTPRequestHandler):
    state: ClassVar[Google]
    query: dict[str, str]
    body: bytes
    unread: int  # bytes of the request body not read yet
    channel: str  # the channel a Bearer token speaks for

    def dispatch(self) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path))
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.unread = int(self.headers.get("Content-Length") or 0)
        # Uploads read their own body, as it comes.
        self.body = b"" if self.command == "PUT" else self._read(self.unread)
        route = ROUTES.get((self.command, url.path))
        if url.path.startswith(("/youtube/", "/upload/")) and not self._authenticate():
            return
        if route is None:
            self._error(404, "notFound", f"Not Found: {self.command} {url.path}")
        else:
            route(self)

    do_GET = do_POST = do_PUT = dispatch

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            self.close_connection = True

    # --- OAuth 2.0

    def token(self) -> None:
        form, state = self._form(), self.state
        client = (form.get("client_id"), form.get("client_secret"))
        grant_type = form.get("grant_type")
        status, answer = 400, INVALID_GRANT
        with state.lock:
            if client != (state.client_id, state.client_secret):
                status, answer = 401, INVALID_CLIENT
            elif grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                channel = state.refresh_tokens.get(refresh)
                if channel is not None and not state.is_revoked(refresh):
                    status, answer = 200, state.tokens(channel, refresh, SCOPES)
            elif grant_type == "authorization_code":
                code = state.codes.pop(form.get("code", ""), None)  # a code works once
                if code is not None and code["redirect_uri"] != form.get("redirect_uri"):
                    answer = {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
                elif code is not None and pkce_matches(code, form.get("code_verifier", "")):
                    status, answer = 200, state.tokens(code["channel_id"], None, code["scope"])
            elif grant_type == "urn:ietf:params:oauth:grant-type:device_code":
                device = state.devices.get(form.get("device_code", ""))
                if device is not None and device.channel_id is None:
                    status, answer = 428, {"error": "authorization_pending"}
                elif device is not None and device.channel_id is not None:
                    del state.devices[form["device_code"]]
                    status, answer = 200, state.tokens(device.channel_id, None, device.scope)
            else:
                answer = {"error": "unsupported_grant_type", "error_description": str(grant_type)}
        self._json(status, answer)

    def consent(self) -> None:
        """The consent page (GET), and its Allow/Cancel form (POST) or `auto=1` redirecting back."""
        params = self._form() if self.command == "POST" else self.query
        problem = self._consent_problem(params)
        if problem is not None:
            self._html(400, f"<h1>{html.escape(problem)}</h1>")
        elif self.command == "GET" and params.get("auto") != "1":
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            with self.state.lock:
                channel = next(iter(self.state.channels.values()), "")
            self._html(
                200,
                f"<h1>Sign in with Google</h1><p>Test app wants to access {html.escape(channel)}"
                f" ({html.escape(params['scope'])}).</p>"
                f'<form method="post" action="/o/oauth2/v2/auth/approve">{hidden}'
                '<button type="submit" name="decision" value="deny">Cancel</button>'
                '<button type="submit" name="decision" value="allow">Allow</button></form>',
            )
        elif params.get("decision") == "deny":
            self._redirect_back(params, {"error": "access_denied"})
        else:
            code = "4/0" + secrets.token_urlsafe(32)
            with self.state.lock:
                self.state.codes[code] = {**params, "channel_id": next(iter(self.state.channels))}
            self._redirect_back(params, {"code": code, "scope": params["scope"]})

    def _consent_problem(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") != self.state.client_id:
            return "Error 401: invalid_client. The OAuth client was not found."
        for name in ("redirect_uri", "response_type", "scope"):
            if not params.get(name):
                return f"Error 400: invalid_request. Missing required parameter: {name}"
        if params["response_type"] != "code":
            return "Error 400: unsupported_response_type"
        if params.get("code_challenge_method", "plain") not in ("S256", "plain"):
            return "Error 400: invalid_request. Invalid code_challenge_method"
        return None

    def _redirect_back(self, params: dict[str, str], answer: dict[str, str]) -> None:
        redirect_uri = params["redirect_uri"]
        query = urlencode({"state": params.get("state", ""), **answer})
        location = redirect_uri + ("&" if "?" in redirect_uri else "?") + query
        self._send(302, headers={"Location": location})

    def device_code(self) -> None:
        form = self._form()
        if form.get("client_id") != self.state.client_id:
            self._json(401, INVALID_CLIENT)
            return
        device_code = "AH-1" + secrets.token_urlsafe(32)
        letters = ["".join(secrets.choice(string.ascii_uppercase) for _ in range(4)) for _ in "ab"]
        user_code = "-".join(letters)
        with self.state.lock:
            self.state.devices[device_code] = DeviceGrant(user_code, form.get("scope", SCOPES))
        self._json(
            200,
            {"device_code": device_code, "user_code": user_code,
             "verification_url": f"{self.state.url}/device", "expires_in": 1800, "interval": 1},
        )  # fmt: skip

    def revoke(self) -> None:
        token, state = self._form().get("token") or self.query.get("token", ""), self.state
        with state.lock:
            known = token in state.refresh_tokens or token in state.access_tokens
            revoked = known and not state.is_revoked(token)
            if revoked:
                state.revoked.append(token)
        if revoked:
            self._json(200, {})
        else:
            self._json(400, {"error": "invalid_token", "error_description": "Token expired"})

    # --- YouTube Data API v3

    def _authenticate(self) -> bool:
        """Whether the request has a live access token; if not, it answers 401."""
        header, state = self.headers.get("Authorization", ""), self.state
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        with state.lock:
            channel = state.access_tokens.get(token)
            live = time.monotonic() < state.expires_at.get(token, 0.0)
            valid = channel is not None and live and not state.is_revoked(token)
        if valid and self._take_fault("401-once"):
            with state.lock:
                state.expires_at[token] = 0.0  # as if it had just expired
            valid = False
        if not valid or channel is None:
            challenge = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            self._json(401, UNAUTHENTICATED, {"WWW-Authenticate": challenge})
            return False
        self.channel = channel
        return True

    def list_channels(self) -> None:
        with self.state.lock:  # only `mine=true` is spoken here
            title = self.state.channels.get(self.channel)
        items = [] if title is None else [{"id": self.channel, "snippet": {"title": title}}]
        self._json(200, {"kind": "youtube#channelListResponse", "items": items})

    def list_videos(self) -> None:
        parts = set(self.query.get("part", "").split(","))
        with self.state.lock:
            videos = [self.state.videos.get(i) for i in self.query.get("id", "").split(",")]
            items = [video.resource(parts) for video in videos if video is not None]
        self._json(200, {"kind": "youtube#videoListResponse", "items": items})

    def insert_playlist_item(self) -> None:
        try:
            snippet = json.loads(self.body)["snippet"]
            playlist, video = snippet["playlistId"], snippet["resourceId"]["videoId"]
        except (ValueError, KeyError, TypeError):
            self._error(
                400, "invalidValue", "snippet.playlistId and snippet.resourceId are required"
            )
            return
        with self.state.lock:
            items = self.state.playlists.get(playlist)
            known = video in self.state.videos
            if items is not None and known:
                items.append(video)
        if items is None:
            self._error(
                404, "playlistNotFound", f"Playlist {playlist} not found", "youtube.playlistItem"
            )
        elif not known:
            self._error(404, "videoNotFound", f"Video {video} not found", "youtube.playlistItem")
        else:
            item = {"kind": "youtube#playlistItem", "id": secrets.token_urlsafe(12),
                    "snippet": snippet}  # fmt: skip
            self._json(200, item)

    def upload_init(self) -> None:
        fault = self._take_fault("quota-insert", "upload-limit")
        parts = set(filter(None, self.query.get("part", "").split(",")))
        length = self.headers.get("X-Upload-Content-Length", "")
        metadata: dict[str, Any] | None = None
        try:  # the API ignores the properties of parts not named in `part`
            body = json.loads(self.body or b"{}")
            metadata = {name: body[name] for name in parts & set(body)}
        except (ValueError, TypeError):
            pass
        if fault == "quota-insert":
            self._error(403, "quotaExceeded", QUOTA, "youtube.quota")
        elif fault == "upload-limit":
            message = "The user has exceeded the number of videos they may upload."
            self._error(400, "uploadLimitExceeded", message, "youtube.video")
        elif self.query.get("uploadType") != "resumable" or not parts:
            self._error(400, "invalidParameter", "Expected uploadType=resumable and a part")
        elif not length.isdigit() or int(length) == 0:
            self._error(400, "mediaBodyRequired", "X-Upload-Content-Length is required")
        elif metadata is None:
            self._error(400, "parseError", "Parse Error")
        elif (problem := metadata_problem(metadata)) is not None:
            message = f"The request metadata specifies an invalid {problem[1]}."
            self._error(400, problem[0], message, "youtube.video")
        else:
            session = UploadSession(secrets.token_urlsafe(24), metadata, int(length), self.channel)
            with self.state.lock:
                self.state.sessions[session.id] = session
            query = urlencode({"uploadType": "resumable", "upload_id": session.id})
            location = f"{self.state.url}/upload/youtube/v3/videos?{query}"
            self._send(200, headers={"Location": location, "X-GUploader-UploadID": session.id})

    def upload_chunk(self) -> None:
        with self.state.lock:
            session = self.state.sessions.get(self.query.get("upload_id", ""))
            generation = received = 0
            if session is not None:
                session.generation += 1
                generation, received = session.generation, len(session.received)
        if session is None:
            self._error(404, "notFound", "No such upload session")
            return
        try:
            content_range = self.headers.get("Content-Range")
            span = parse_content_range(content_range, self.unread, session.total)
        except ValueError as error:
            if session.video_id is None:
                self._error(400, "badRequest", str(error))
                return
            span = None
        if span is None or session.video_id is not None:
            self._answer_upload(session)  # a probe, or a session already complete
        elif span[0] != received:
            self._error(400, "badRequest", f"Expected the bytes from {received} on")
        elif span[1] < session.total and self.unread % CHUNK:
            self._error(400, "badRequest", f"A chunk but the last must be a multiple of {CHUNK}")
        else:
            fault = self._take_fault("503-chunk", "drop-chunk", "slow-chunk")
            self._receive(session, generation, fault)

    def _receive(self, session: UploadSession, generation: int, fault: str | None) -> None:
        """Read a chunk and store it (or none or part of it, as `fault` says), then answer."""
        if fault == "503-chunk":
            self._error(503, "backendError", "Backend Error")
            return
        data = bytearray()
        while self.unread:  # in blocks of CHUNK, so "slow-chunk" can pause after each
            want = min(CHUNK, self.unread)
            block = self._read(want)
            if len(block) < want:  # the client went away mid-chunk: keep nothing
                self.close_connection = True
                return
            data += block
            if fault == "slow-chunk":
                time.sleep(SLOW_S)
        keep = len(data) // 2 // CHUNK * CHUNK if fault == "drop-chunk" else len(data)
        with self.state.lock:
            if session.generation == generation:
                session.received += data[:keep]
        if fault == "drop-chunk":
            self.close_connection = True  # hang up without an answer: only a probe tells
        else:
            self._answer_upload(session)

    def _answer_upload(self, session: UploadSession) -> None:
        """201 with the video once the last byte is in, the same video (200) after, else 308."""
        state, created = self.state, False
        with state.lock:
            if session.video_id is None and len(session.received) == session.total:
                now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
                video = Video(
                    id=secrets.token_urlsafe(8)[:11],
                    snippet={**session.metadata.get("snippet", {}), "channelId": session.channel_id,
                             "channelTitle": state.channels.get(session.channel_id, ""),
                             "publishedAt": now},
                    status={"privacyStatus": "public", **session.metadata.get("status", {}),
                            "uploadStatus": "uploaded"},
                    body=bytes(session.received),
                )  # fmt: skip
                state.videos[video.id], session.video_id, created = video, video.id, True
            final = state.videos.get(session.video_id or "")
            received = len(session.received)
        if final is not None:
            self._json(201 if created else 200, final.resource())
        else:
            ranges = {"Range": f"bytes=0-{received - 1}"} if received else {}
            self._send(308, headers=ranges, reason="Resume Incomplete")

    def set_thumbnail(self) -> None:
        with self.state.lock:
            video = self.state.videos.get(self.query.get("videoId", ""))
        content_type = self.headers.get("Content-Type", "").partition(";")[0].strip()
        if self._take_fault("thumbnail-forbidden"):
            message = "The authenticated user doesn't have permissions for uploading and setting "
            self._error(403, "forbidden", message + "custom video thumbnails.", "youtube.thumbnail")
        elif video is None:
            self._error(404, "videoNotFound", "The video cannot be found.", "youtube.thumbnail")
        elif video.snippet.get("channelId") != self.channel:
            self._error(403, "forbidden", "The video belongs to another channel.", "youtube.video")
        elif len(self.body) > MAX_THUMBNAIL:
            self._error(400, "mediaBodyTooLarge", "Media larger than 2MB.")
        elif content_type not in ("image/jpeg", "image/png", "application/octet-stream"):
            message = "The provided image content is invalid."
            self._error(400, "invalidImage", message, "youtube.thumbnail")
        else:
            with self.state.lock:
                self.state.thumbnails[video.id] = self.body
            items = [{"default": {"url": f"{self.state.url}/vi/{video.id}/default.jpg"}}]
            self._json(200, {"kind": "youtube#thumbnailSetResponse", "items": items})

    # --- plumbing

    def _take_fault(self, *names: str) -> str | None:
        """The first queued fault among `names`, taken off the queue."""
        with self.state.lock:
            for fault in self.state.faults:
                if fault in names:
                    self.state.faults.remove(fault)
                    return fault
        return None

    def _read(self, size: int) -> bytes:
        data = self.rfile.read(size) if size > 0 else b""
        self.unread = self.unread - size if len(data) == size else 0
        return data

    def _form(self) -> dict[str, str]:
        fields = parse_qs(self.body.decode(), keep_blank_values=True)
        return {name: values[-1] for name, values in fields.items()}

    def _send(
        self, status: int, data: bytes = b"", content_type: str | None = None,
        headers: dict[str, str] | None = None, reason: str | None = None,
    ) -> None:  # fmt: skip
        self._read(self.unread)  # an answer before the body was read still consumes it
        self.send_response(status, reason)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json; charset=UTF-8", headers)

    def _error(self, code: int, reason: str, message: str, domain: str = "global") -> None:
        self._json(code, google_error(code, reason, message, domain))

    def _html(self, status: int, body: str) -> None:
        page = f'<!doctype html><meta charset="utf-8"><title>Google</title><body>{body}</body>'
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def log_message(self, format: str, *args: Any) -> None:
        pass


ROUTES: dict[tuple[str, str], Callable[[GoogleHandler], None]] = {
    ("POST", "/token"): GoogleHandler.token,
    ("GET", "/o/oauth2/v2/auth"): GoogleHandler.consent,
    ("POST", "/o/oauth2/v2/auth/approve"): GoogleHandler.consent,
    ("POST", "/device/code"): GoogleHandler.device_code,
    ("POST", "/revoke"): GoogleHandler.revoke,
    ("GET", "/youtube/v3/channels"): GoogleHandler.list_channels,
    ("GET", "/youtube/v3/videos"): GoogleHandler.list_videos,
    ("POST", "/youtube/v3/playlistItems"): GoogleHandler.insert_playlist_item,
    ("POST", "/upload/youtube/v3/videos"): GoogleHandler.upload_init,
    ("PUT", "/upload/youtube/v3/videos"): GoogleHandler.upload_chunk,
    ("POST", "/upload/youtube/v3/thumbnails/set"): GoogleHandler.set_thumbnail,
}


@contextmanager
def google_server() -> Iterator[Google]:
    """A fake Google on a free loopback port; point the token URI and the API base at its `url`."""

    class Handler(GoogleHandler):
        pass

    with serving(Handler) as url:
        Handler.state = Google(url)
        yield Handler.state
