"""HTTP for providers: JSON requests and streamed downloads, retried with backoff where a retry
can help, every failure a ProviderError that names the provider (and never the API key)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from worker.errors import ProviderError
from worker.retry import retry_delay_s

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULT_ATTEMPTS = 3
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 30.0
CHUNK_BYTES = 1 << 16
BODY_SNIPPET_CHARS = 300
REDACTED = "***"
# What a credential looks like in an upstream's text, whoever it belongs to: a bearer token, an
# OpenAI-style key (sk-…, sk-proj-…), a key in a query string.
_CREDENTIALS = (
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), f"sk-{REDACTED}"),
    (re.compile(r"(?i)\b(api[_-]?key|key|access_token|token)=[^&\s\"']+"), rf"\1={REDACTED}"),
)

Sleep = Callable[[float], None]


def redact(url: str | httpx.URL) -> str:
    """The URL without its query string, which may carry an API key (Pixabay's `key=`)."""
    parts = urlsplit(str(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every value of `secrets`, and anything that looks like a credential, replaced
    by `***`: for text an upstream wrote (an error body may echo the Authorization header)."""
    # Longest first: a secret that contains another is replaced whole.
    for secret in sorted({secret for secret in secrets if secret}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def backoff_s(attempt: int) -> float:
    """The shared retry schedule (worker/retry.py) at a provider's pace: 0.5 s doubling to 8 s."""
    return retry_delay_s(attempt, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S)


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return min(float(value), RETRY_AFTER_CAP_S) if value.isdigit() else None


def status_error(
    provider: str, response: httpx.Response, *, stage: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """A provider's HTTP error answer as a clear message; a retry only helps 429 and 5xx. The
    body's snippet is scrubbed of `secrets` (the credentials the request sent) and of anything
    that looks like one."""
    status = response.status_code
    where = redact(response.request.url)
    if status in (401, 403):
        return ProviderError(
            provider, f"the API key was refused (HTTP {status})", retryable=False, stage=stage
        )
    if status in RETRYABLE_STATUS:
        what = "is rate limiting us" if status == 429 else "is unavailable"
        return ProviderError(provider, f"{what} (HTTP {status})", retryable=True, stage=stage)
    snippet = scrub(" ".join(response.text.split()), secrets)[:BODY_SNIPPET_CHARS]
    return ProviderError(
        provider,
        f"refused the request to {where} (HTTP {status}){': ' + snippet if snippet else ''}",
        retryable=False,
        stage=stage,
    )


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    stage: str,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Sleep = time.sleep,
    secrets: Iterable[str] = (),
    **kwargs: Any,
) -> Any:
    """Send a request and parse its JSON answer, retrying connection errors, 429 and 5xx.
    `secrets`: the credentials the request sends, never repeated in an error."""
    secrets = tuple(secrets)
    last_error: ProviderError | None = None
    for attempt in range(1, attempts + 1):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            last_error = ProviderError(
                provider, f"timed out ({redact(url)})", retryable=True, stage=stage
            )
            last_error.__cause__ = exc
        except httpx.TransportError as exc:
            detail = scrub(f"could not connect to {redact(url)}: {exc}", secrets)
            last_error = ProviderError(provider, detail, retryable=True, stage=stage)
            last_error.__cause__ = exc
        else:
            if response.is_success:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ProviderError(
                        provider, "answered with something that is not JSON", retryable=True,
                        stage=stage,
                    ) from exc  # fmt: skip
            last_error = status_error(provider, response, stage=stage, secrets=secrets)
            if not last_error.retryable:
                raise last_error
            if attempt < attempts:
                retry_after_s = _retry_after_s(response)
                sleep(backoff_s(attempt) if retry_after_s is None else retry_after_s)
                continue
        if attempt < attempts:
            sleep(backoff_s(attempt))
    assert last_error is not None
    raise ProviderError(
        provider,
        f"{last_error.message.removeprefix(provider + ': ')}, after {attempts} attempts",
        retryable=True,
        stage=stage,
    ) from last_error


def download(
    client: httpx.Client,
    url: str,
    destination: Path,
    *,
    provider: str,
    stage: str,
    max_bytes: int,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Sleep = time.sleep,
) -> Path:
    """Stream `url` to `destination` through a `.part` file, moved into place only when complete.

    A body shorter than its Content-Length (a dropped connection) is retried; one larger than
    `max_bytes` is refused without being stored."""
    partial = destination.with_name(destination.name + ".part")
    last_error: ProviderError | None = None
    for attempt in range(1, attempts + 1):
        try:
            _stream_to(client, url, partial, provider=provider, stage=stage, max_bytes=max_bytes)
            os.replace(partial, destination)
            return destination
        except ProviderError as exc:
            partial.unlink(missing_ok=True)
            if not exc.retryable:
                raise
            last_error = exc
        except (httpx.TransportError, OSError) as exc:
            partial.unlink(missing_ok=True)
            last_error = ProviderError(
                provider, f"download from {redact(url)} failed: {exc}", retryable=True, stage=stage
            )
        if attempt < attempts:
            sleep(backoff_s(attempt))
    assert last_error is not None
    raise last_error


def _stream_to(
    client: httpx.Client, url: str, partial: Path, *, provider: str, stage: str, max_bytes: int
) -> None:
    with client.stream("GET", url, follow_redirects=True) as response:
        if not response.is_success:
            response.read()
            raise status_error(provider, response, stage=stage)
        declared = response.headers.get("content-length", "")
        expected = int(declared) if declared.isdigit() else None
        if expected is not None and expected > max_bytes:
            raise ProviderError(
                provider,
                f"the file at {redact(url)} is {expected:,} bytes, over the {max_bytes:,} limit",
                retryable=False,
                stage=stage,
            )
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                if response.num_bytes_downloaded > max_bytes:
                    raise ProviderError(
                        provider,
                        f"the file at {redact(url)} is over the {max_bytes:,}-byte limit",
                        retryable=False,
                        stage=stage,
                    )
                out.write(chunk)
        # Content-Length counts the bytes on the wire (before any content decoding).
        received = response.num_bytes_downloaded
    if expected is not None and received < expected:
        raise ProviderError(
            provider,
            f"the download from {redact(url)} stopped at {received:,} of {expected:,} bytes",
            retryable=True,
            stage=stage,
        )
