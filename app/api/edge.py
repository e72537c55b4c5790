"""What the API accepts at its edge, from the address it listens on: the Host headers (against DNS
rebinding), the browser origins CORS lets in, and the pages that may send it writes."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.limits import send_error
from app.settings import Settings, normal_host

# A rebinding page's requests carry its own name in Host, never one of these: always accepted.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# The origins of pages served from this machine, on any port.
LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::"})
HOST_HEADER = re.compile(r"(?P<name>\[[^\]]*\]|[^:\[\]]*)(:[0-9]{1,5})?")
MAX_ECHOED_HOST = 100


def listens_on_loopback(host: str) -> bool:
    """True when `host` (MONEYPRINTER_HOST) only takes connections from this machine."""
    name = normal_host(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name or "").is_loopback
    except ValueError:
        return False


def cors_origins(settings: Settings) -> tuple[list[str], str | None]:
    """The origins CORS allows, as (exact origins, a pattern): the configured ones; with none,
    the loopback origins when the server listens on loopback, else none."""
    if settings.cors_origins:
        return settings.cors_origins, None
    if listens_on_loopback(settings.host):
        return [], LOOPBACK_ORIGINS
    return [], None


@dataclass(frozen=True)
class HostPolicy:
    """The Host header names the API answers to; any port."""

    names: frozenset[str]
    any_address: bool = False  # any IP address (the wildcard's default)
    any_host: bool = False  # MONEYPRINTER_ALLOWED_HOSTS=*

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        """The loopback names, and MONEYPRINTER_ALLOWED_HOSTS; without it, on a specific address
        that address, and on the wildcard any IP address: which addresses reach a wildcard server
        is not known (a container's, a published port's), and a rebinding needs a name."""
        if "*" in settings.allowed_hosts:
            return cls(LOOPBACK_HOSTS, any_host=True)
        if settings.allowed_hosts:
            return cls(LOOPBACK_HOSTS | set(settings.allowed_hosts))
        listening = normal_host(settings.host)
        if not settings.host or listening in WILDCARD_ADDRESSES:
            return cls(LOOPBACK_HOSTS, any_address=True)
        return cls(LOOPBACK_HOSTS | ({listening} if listening else set()))

    def refusal(self, host_header: str | None) -> str | None:
        """Why a request with this Host header is refused, or None when it is accepted."""
        if host_header is None:
            return "A Host header is required."
        name = _host_name(host_header)
        if name is not None and (self.any_host or name in self.names or self._address(name)):
            return None
        shown = host_header[:MAX_ECHOED_HOST]
        return (
            f"Host {shown!r} is not a name this server answers to; "
            "MONEYPRINTER_ALLOWED_HOSTS lists the accepted ones."
        )

    def _address(self, name: str) -> bool:
        if not self.any_address:
            return False
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


@functools.lru_cache(maxsize=1024)  # a server sees a few Host values; parsing one costs ~10 µs
def _host_name(host_header: str) -> str | None:
    """The name of a Host header (`name[:port]`, `[v6]:port`), normalised; None if malformed."""
    match = HOST_HEADER.fullmatch(host_header.strip())
    if match is None or not match["name"]:
        return None
    return normal_host(match["name"])


class TrustedHosts:
    """Answers 400 in the error envelope to an HTTP request whose Host header names no host the
    server answers to: a page that rebound its DNS name to this server sends its own name."""

    def __init__(self, app: ASGIApp, *, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.policy.refusal(Headers(scope=scope).get("host"))
            if refusal is not None:
                await send_error(send, 400, refusal)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class OriginPolicy:
    """Which browser pages may send the API a write (POST, DELETE, …): its own, and those CORS
    lets in. A form or multipart POST is a "simple" request that a browser sends cross-origin
    without asking (no preflight): any web site could otherwise make a visitor's browser upload
    songs to, or queue jobs on, a server on their machine that has no key."""

    origins: frozenset[str]
    pattern: re.Pattern[str] | None

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        origins, pattern = cors_origins(settings)
        return cls(frozenset(origins), re.compile(pattern) if pattern else None)

    def refusal(self, origin: str | None, *, host_header: str | None) -> str | None:
        """Why a write from a page at `origin` is refused, or None when it may be sent. No
        Origin header (curl, scripts, an old browser's same-origin request): allowed."""
        if origin is None or "*" in self.origins or origin in self.origins:
            return None
        if self.pattern is not None and self.pattern.fullmatch(origin):
            return None
        # The page the server itself serves. Only the host and port count: behind a TLS proxy the
        # page is https while the request reaches the app as http.
        if host_header is not None and origin.partition("://")[2] == host_header:
            return None
        return (
            f"A page at {origin[:MAX_ECHOED_HOST]!r} may not send this server writes; "
            "MONEYPRINTER_CORS_ORIGINS lists the origins that may."
        )


class CrossSiteWrites:
    """Answers 403 in the error envelope to a write sent by a page of another origin that CORS
    does not let in, before the app reads its body."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, *, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE_METHODS:
            headers = Headers(scope=scope)
            refusal = self.policy.refusal(headers.get("origin"), host_header=headers.get("host"))
            if refusal is not None:
                await send_error(send, 403, refusal)
                return
        await self.app(scope, receive, send)
