"""Delivering the webhook outbox: at least once, with backoff, across restarts.

Each worker with endpoints configured (MONEYPRINTER_WEBHOOK_URLS) sends what is due to them:
when it ends a job, and every MONEYPRINTER_WEBHOOK_POLL_INTERVAL_S for what others wrote (the
API's cancels, other workers' jobs) or what is due again. A claim counts the attempt and holds
the row for the attempt's timeout, so two senders never send one attempt twice and a sender that
dies mid-attempt leaves it to be sent again (receivers drop duplicates by `webhook-id`).

An attempt succeeds on any 2xx answer. 410 Gone means the endpoint wants no more: the delivery
fails at once. Any other answer, a redirect included (none is followed), or no answer within
MONEYPRINTER_WEBHOOK_TIMEOUT_S, is tried again after the next wait of
MONEYPRINTER_WEBHOOK_RETRY_SCHEDULE_S (±10 %, or the answer's `Retry-After` when that is later);
when the waits are used up, the delivery has failed, and `POST
/api/webhooks/deliveries/{id}/redeliver` sends it again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.db.models import WebhookDelivery, utcnow
from app.db.repositories import Repositories
from app.settings import Settings
from app.version import app_version
from app.webhooks import shown_endpoint, signature
from worker.providers.http import scrub

logger = logging.getLogger(__name__)

RunInTransaction = Callable[[Callable[[Repositories], Awaitable[Any]]], Awaitable[Any]]

BATCH = 16
JITTER = 0.1
GONE = 410
MAX_RETRY_AFTER_S = 86_400.0
ERROR_CHARS = 300


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: an HTTP status, or an error before any."""

    status_code: int | None
    error: str | None
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    def __init__(self, settings: Settings, run: RunInTransaction) -> None:
        self._settings = settings
        self._run = run  # the worker's retrying transaction runner
        self._endpoints = tuple(settings.webhook_urls)
        self._keys = settings.webhook_keys
        self._wake = asyncio.Event()
        self._stopping = False

    def nudge(self) -> None:
        """Something may be due now (this worker just ended a job)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the round being sent (its outcomes recorded), then return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Send what is due until `stop`."""
        timeout = httpx.Timeout(self._settings.webhook_timeout_s)
        headers = {"user-agent": f"MoneyPrinter/{app_version()} (webhooks)"}
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers=headers, trust_env=False
        ) as client:
            while not self._stopping:
                self._wake.clear()
                try:
                    sent = await self.send_due(client)
                except Exception:
                    logger.exception("webhooks: sending failed; trying again")
                    sent = 0
                if sent < BATCH and not self._stopping:
                    # A full batch may have more behind it: go on at once. Otherwise wait.
                    try:
                        interval_s = self._settings.webhook_poll_interval_s
                        await asyncio.wait_for(self._wake.wait(), interval_s)
                    except TimeoutError:
                        pass

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """One round: claim what is due, send it all at once, record each outcome."""
        hold_s = self._settings.webhook_timeout_s * 2 + 5

        async def claim(db: Repositories) -> list[WebhookDelivery]:
            return await db.webhooks.claim(endpoints=self._endpoints, limit=BATCH, hold_s=hold_s)

        claimed: list[WebhookDelivery] = await self._run(claim)
        await asyncio.gather(*(self._deliver(client, delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> None:
        attempt = await self._send(client, delivery)
        retry_at = None if attempt.delivered else self._retry_at(delivery, attempt)

        async def record(db: Repositories) -> bool:
            return await db.webhooks.record(
                delivery,
                delivered=attempt.delivered,
                status_code=attempt.status_code,
                error=attempt.error,
                retry_at=retry_at,
            )

        recorded: bool = await self._run(record)
        outcome = (
            "delivered"
            if attempt.delivered
            else f"failed ({attempt.error}); "
            + (f"next attempt at {retry_at:%H:%M:%S}" if retry_at else "given up")
        )
        logger.info(
            "webhook %s %s to %s, attempt %d: %s%s",
            delivery.message_id,
            delivery.event_type,
            shown_endpoint(delivery.endpoint),
            delivery.attempt_count,
            outcome,
            "" if recorded else " (claimed again meanwhile: not recorded)",
        )

    async def _send(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> Attempt:
        body = delivery.body.encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._keys, delivery.message_id, timestamp, body),
        }
        try:
            response = await client.post(delivery.endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            return Attempt(None, f"no answer within {self._settings.webhook_timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Attempt(None, self._clean(f"{type(exc).__name__}: {exc}"))
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code, None)
        answer = self._clean(response.text[:ERROR_CHARS].strip())
        error = f"HTTP {response.status_code}" + (f": {answer}" if answer else "")
        return Attempt(response.status_code, error, retry_after_s(response))

    def _retry_at(self, delivery: WebhookDelivery, attempt: Attempt) -> datetime | None:
        waits = self._settings.webhook_retry_schedule_s
        if attempt.status_code == GONE or delivery.attempt_count > len(waits):
            return None
        wait_s = waits[delivery.attempt_count - 1] * random.uniform(1 - JITTER, 1 + JITTER)
        if attempt.retry_after_s is not None:
            wait_s = max(wait_s, attempt.retry_after_s)
        return utcnow() + timedelta(seconds=wait_s)

    def _clean(self, text: str) -> str:
        """An answer or error as stored and shown: no secret of ours, whatever it echoes."""
        return scrub(text, self._settings.secret_values)[:ERROR_CHARS]


def retry_after_s(response: httpx.Response) -> float | None:
    """The answer's `Retry-After` (seconds or an HTTP date) in seconds, at most a day."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - utcnow()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
