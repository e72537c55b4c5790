"""A webhook receiver as the Standard Webhooks specification describes one: it verifies each
request's `webhook-signature` over `webhook-id.webhook-timestamp.body` with the shared secret
(written here from the specification, not with the service's code), refuses a timestamp more
than five minutes off, and records what it got. Its answers are scripted: a test queues the
statuses of the first requests (500, 503 with `Retry-After`, 410, "hang" past the sender's
timeout…); after them it answers 204."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from tests.fakes.server import serving

TOLERANCE_S = 300
HANG_S = 5.0


@dataclass(frozen=True)
class Received:
    path: str
    message_id: str
    timestamp: int
    signature: str
    body: bytes
    verified: bool
    answered: int | str

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    url: str
    secret: str
    answers: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> list[Received]:
        """The requests it accepted (2xx): each message's successful delivery."""
        with self.lock:
            return [r for r in self.received if isinstance(r.answered, int) and r.answered < 300]


def verify(secret: str, message_id: str, timestamp: str, body: bytes, header: str) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in header.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@contextmanager
def webhook_receiver(secret: str, answers: list[int | str] | None = None) -> Iterator[Receiver]:
    """A receiver on a free loopback port; its endpoint is `receiver.url` + any path."""

    class Handler(BaseHTTPRequestHandler):
        state: ClassVar[Receiver]

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            message_id = self.headers.get("webhook-id", "")
            timestamp = self.headers.get("webhook-timestamp", "")
            header = self.headers.get("webhook-signature", "")
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= TOLERANCE_S
            verified = fresh and verify(self.state.secret, message_id, timestamp, body, header)
            with self.state.lock:
                answer: int | str = self.state.answers.pop(0) if self.state.answers else 204
                if not verified:
                    answer = 401
                self.state.received.append(
                    Received(
                        self.path,
                        message_id,
                        int(timestamp) if timestamp.isdigit() else 0,
                        header,
                        body,
                        verified,
                        answer,
                    )
                )
            if answer == "hang":
                time.sleep(HANG_S)
                answer = 204
            assert isinstance(answer, int)
            text = b"" if answer < 300 else b'{"error": "not now"}'
            self.send_response(answer)
            if answer in (429, 503):
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        Handler.state = Receiver(url, secret, list(answers or []))
        yield Handler.state
