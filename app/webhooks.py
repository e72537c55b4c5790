"""Webhooks as the Standard Webhooks specification describes them: what a message says, and how
it is signed.

Every message is a JSON object `{"type", "timestamp", "data"}`, sent as these exact bytes to each
configured endpoint with three headers: `webhook-id` (the message's id: the same on every retry
and to every endpoint, so a receiver drops duplicates by it), `webhook-timestamp` (Unix seconds
of this attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under
the secret; one signature per configured secret, space-separated, so a secret can be rotated).

Messages are written to the outbox (the `webhook_deliveries` table) in the transaction that ends
the job; the worker delivers them (worker/webhooks.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64

# The message type each final state of a job is announced as.
ENDED_TYPES = {"completed": "job.completed", "failed": "job.failed", "cancelled": "job.cancelled"}
# The states a message announces: a job's end, and its plan waiting for a person.
ANNOUNCED_TYPES = {**ENDED_TYPES, "awaiting_review": "job.awaiting_review"}
PUBLISHED = "job.published"  # a publish job completed: the video is on YouTube


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, as `whsec_` + base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ValueError naming what is wrong with it."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX!r} followed by base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(
            f"a webhook secret holds {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} random bytes, "
            f"not {len(key)}"
        )
    return key


def signature(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def job_ended_body(
    *,
    state: str,
    job_id: str,
    kind: str,
    subject: str | None,
    attempt: int,
    error: str | None,
    has_video: bool,
    at: datetime,
    youtube: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The type and body of the message announcing that a job ended in `state`, or awaits its
    review (`job.awaiting_review`, with a link to its storyboard): a publish job that completed
    is `job.published`, with its `youtube` video. Links are paths on the API (this service does
    not know the address its clients reach it at)."""
    links = {"job": f"/api/jobs/{job_id}", "events": f"/api/jobs/{job_id}/events"}
    if has_video:
        links["video"] = f"/api/jobs/{job_id}/video"
    if state == "awaiting_review":
        links["storyboard"] = f"/api/jobs/{job_id}/storyboard"
    data: dict[str, Any] = {
        "jobId": job_id,
        "kind": kind,
        "state": state,
        "videoSubject": subject,
        "attempt": attempt,
        "errorMessage": error,
        "links": links,
    }
    message_type = ANNOUNCED_TYPES[state]
    if youtube is not None:
        data["youtube"] = youtube
        message_type = PUBLISHED
    return message_type, message_body(message_type, data, at=at)


def message_body(message_type: str, data: dict[str, Any], *, at: datetime) -> str:
    timestamp = at.isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"type": message_type, "timestamp": timestamp, "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def shown_endpoint(url: str) -> str:
    """An endpoint as the API shows it: without a password or query, which may hold a token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))
