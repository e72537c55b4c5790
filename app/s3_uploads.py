"""Multipart uploads that never finished: listed and aborted, so their parts do not linger.

A worker that dies mid-upload leaves the parts it sent in the bucket, invisible to listings but
stored (and billed). Stores remove them by a lifecycle rule where one is set; retention does not
count on it, and aborts every upload under the prefix begun more than a day before (no upload of
ours takes that long). obstore has no call for either request, so they are sent here, signed
with AWS Signature Version 4 from the same AWS_* variables; `sign` is checked against botocore's
signer in the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

import httpx

S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str = ""
    region: str = "us-east-1"

    @classmethod
    def from_environment(cls) -> Credentials | None:
        """The AWS_* variables' keys; None without them (an instance role, say: then only the
        store's lifecycle rule removes unfinished uploads)."""
        access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not access_key or not secret_key:
            return None
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        return cls(
            access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN", ""), region or "us-east-1"
        )


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated_at: datetime


def sign(
    method: str,
    url: str,
    credentials: Credentials,
    *,
    headers: dict[str, str] | None = None,
    payload_sha256: str = EMPTY_SHA256,
    now: datetime,
) -> dict[str, str]:
    """The request's headers with an AWS Signature Version 4 `Authorization` for S3: the
    canonical request (method, path, sorted query, the signed headers, the payload's hash), the
    string to sign for the day's scope, and the key derived from the secret for that scope."""
    parts = urlsplit(url)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {name.lower(): " ".join(value.split()) for name, value in (headers or {}).items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = stamp
    signed["x-amz-content-sha256"] = payload_sha256
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            quote(unquote(parts.path or "/"), safe="/~"),
            _canonical_query(parts.query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{credentials.region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (day, credentials.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


class MultipartUploads:
    """The unfinished uploads of one bucket, over the S3 REST API."""

    def __init__(self, bucket: str, credentials: Credentials, *, endpoint: str = "") -> None:
        self.credentials = credentials
        if endpoint:  # MinIO and most others: the bucket in the path
            self.base_url = f"{endpoint.rstrip('/')}/{quote(bucket)}"
        else:
            self.base_url = f"https://{bucket}.s3.{credentials.region}.amazonaws.com"

    def _request(self, method: str, path: str, query: str) -> httpx.Response:
        url = f"{self.base_url}/{quote(path, safe='/~')}" if path else self.base_url + "/"
        url = f"{url}?{query}"
        headers = sign(method, url, self.credentials, now=datetime.now(UTC))
        headers.pop("host")
        response = httpx.request(method, url, headers=headers, timeout=TIMEOUT_S)
        response.raise_for_status()
        return response

    def pending(self, prefix: str) -> list[PendingUpload]:
        """Every upload begun under `prefix` and neither completed nor aborted."""
        found: list[PendingUpload] = []
        markers = ""
        while True:
            query = f"prefix={quote(prefix, safe='-_.~')}&uploads={markers}"
            root = ElementTree.fromstring(self._request("GET", "", query).content)
            for upload in root.iter(f"{S3_NAMESPACE}Upload"):
                found.append(
                    PendingUpload(
                        _text(upload, "Key"),
                        _text(upload, "UploadId"),
                        datetime.fromisoformat(_text(upload, "Initiated").replace("Z", "+00:00")),
                    )
                )
            if _text(root, "IsTruncated") != "true":
                return found
            key_marker = quote(_text(root, "NextKeyMarker"), safe="-_.~")
            upload_marker = quote(_text(root, "NextUploadIdMarker"), safe="-_.~")
            markers = f"&key-marker={key_marker}&upload-id-marker={upload_marker}"

    def abort(self, upload: PendingUpload) -> None:
        self._request("DELETE", upload.key, f"uploadId={quote(upload.upload_id, safe='-_.~')}")


def _text(element: ElementTree.Element, name: str) -> str:
    child = element.find(f"{S3_NAMESPACE}{name}")
    return (child.text or "") if child is not None else ""
