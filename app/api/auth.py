"""The API key, checked before a request reaches the app, and short-lived URL tokens for what a
browser loads by address (`<video src>`, `<img>`, links, EventSource), which cannot send headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Collection
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.limits import send_error

KEY_REQUIRED = "API key required: send 'Authorization: Bearer <key>' or 'X-API-Key'."
KEY_INVALID = "Invalid API key."
TOKEN_INVALID = "Invalid token."
TOKEN_EXPIRED = "Token expired."
TOKEN_OUT_OF_SCOPE = "The token does not cover this path."
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_SCOPE_CHARS = 1024
# Bumping the label retires every token issued before, without touching the key.
TOKEN_SECRET_LABEL = b"moneyprinter url token v1"


def presented_key(headers: Headers) -> str:
    """The key a request sends: `X-API-Key`, else `Authorization: Bearer`; empty when neither."""
    given = headers.get("x-api-key", "")
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if not given and scheme.lower() == "bearer":
        given = credentials.strip()
    return given


def check_scope(scope: str) -> str:
    """`scope` when it is a clean API path (`/api/…`, no query, no empty, `.` or `..` segment);
    ValueError naming the problem otherwise."""
    if len(scope) > MAX_SCOPE_CHARS:
        raise ValueError(f"scope: at most {MAX_SCOPE_CHARS} characters.")
    if not scope.startswith("/api/") or any(char in scope for char in "?#\\"):
        raise ValueError("scope: an API path such as /api/jobs/<id> or /api/songs.")
    if any(segment in ("", ".", "..") for segment in scope.split("/")[1:]):
        raise ValueError("scope: no empty, '.' or '..' segments, and no trailing '/'.")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in scope):
        raise ValueError("scope: no control characters.")
    return scope


class UrlTokens:
    """Issues and checks tokens for GET and HEAD under a path scope, good for `ttl_s` seconds.

    A token is `<expiry>.<scope>.<HMAC-SHA256 of both>`, the scope base64url-encoded. The secret
    is derived from the API key, so every API process with the same key accepts the others'
    tokens, the key itself never appears in a URL, and changing the key retires all tokens."""

    def __init__(self, api_key: str, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._secret = hmac.digest(api_key.encode(), TOKEN_SECRET_LABEL, "sha256")
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, scope: str) -> str:
        expires = int(self._clock()) + self.ttl_s
        payload = f"{expires}.{_b64encode(check_scope(scope).encode())}"
        return f"{payload}.{self._mac(payload)}"

    def refusal(self, token: str, path: str) -> str | None:
        """Why `token` does not let a read of `path` through; None when it does."""
        payload, _, mac = token.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return TOKEN_INVALID
        expires, _, encoded_scope = payload.partition(".")
        try:
            scope = _b64decode(encoded_scope).decode()
        except (binascii.Error, UnicodeDecodeError):
            return TOKEN_INVALID
        if not expires.isdigit() or int(expires) < self._clock():
            return TOKEN_EXPIRED
        # Dot segments are refused outright: a proxy in front may resolve them after we looked.
        covered = path == scope or path.startswith(scope + "/")
        if not covered or any(segment in (".", "..") for segment in path.split("/")):
            return TOKEN_OUT_OF_SCOPE
        return None

    def _mac(self, payload: str) -> str:
        return _b64encode(hmac.digest(self._secret, payload.encode(), hashlib.sha256))


class ApiKeyGuard:
    """Refuse a request that needs the API key and lacks it, before the app reads its body.

    Open without the key: the `public_paths`, whatever starts with one of `public_prefixes`, CORS
    preflights (OPTIONS: browsers never send credentials with them) and, with `public_reads`,
    every GET and HEAD. A GET or HEAD may instead carry `?token=` within its scope. A refusal is
    401 in the error envelope with `WWW-Authenticate: Bearer` and `Connection: close`. HTTP only:
    the API has no WebSocket route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str,
        tokens: UrlTokens,
        public_paths: Collection[str],
        public_prefixes: Collection[str],
        public_reads: bool,
    ) -> None:
        self.app = app
        self.api_key = api_key.encode()
        self.tokens = tokens
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        self.public_reads = public_reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await send_error(send, 401, refusal, headers={"WWW-Authenticate": "Bearer"})

    def _open(self, scope: Scope) -> bool:
        method, path = scope["method"], route_path(scope)
        if (
            method == "OPTIONS"
            or path in self.public_paths
            or path.startswith(self.public_prefixes)
        ):
            return True
        return self.public_reads and method in READ_METHODS

    def _refusal(self, scope: Scope) -> str | None:
        given = presented_key(Headers(scope=scope))
        if given:
            return None if secrets.compare_digest(given.encode(), self.api_key) else KEY_INVALID
        if scope["method"] in READ_METHODS:
            query = parse_qsl(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            )
            tokens = [value for name, value in query if name == "token"]
            if len(tokens) == 1:
                return self.tokens.refusal(tokens[0], route_path(scope))
            if tokens:
                return TOKEN_INVALID
        return KEY_REQUIRED


def route_path(scope: Scope) -> str:
    """The path the router matches: without the `root_path` a proxy mounted the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
