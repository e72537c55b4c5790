"""The webhook outbox: messages written with the state change they announce, and each one's
delivery to each endpoint (app/webhooks.py says what a message is).

Which endpoints a session announces to is part of its sessionmaker (`create_sessionmaker`'s
`webhook_endpoints`): every repository that ends a job (or sets it to await review) calls
`announce_settled` in the same transaction, and with no endpoints that writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update

from app.db.models import GenerationJob, Publication, WebhookDelivery, utcnow
from app.db.repositories.base import Repository, rowcount
from app.domain import PREVIEW_KIND, PUBLISH_KIND
from app.webhooks import ANNOUNCED_TYPES, job_ended_body, new_message_id
from app.youtube import watch_url

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
WEBHOOK_ENDPOINTS = "webhook_endpoints"  # the key in Session.info


class WebhookRepository(Repository):
    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self.session.info.get(WEBHOOK_ENDPOINTS, ()))

    async def announce_settled(self, job_ids: Sequence[str]) -> None:
        """Queue a message for each of these jobs that has ended (completed, failed or
        cancelled) or awaits its review, to every endpoint, as they are now in this transaction;
        a scene's preview announces nothing."""
        endpoints = self.endpoints
        if not endpoints or not job_ids:
            return
        # Columns, not ORM objects: a job this session loaded earlier would come back as it was
        # then (the state change was a plain UPDATE). A publish job comes with its upload.
        jobs = await self.session.execute(
            select(
                GenerationJob.id,
                GenerationJob.status,
                GenerationJob.kind,
                GenerationJob.payload,
                GenerationJob.attempt_count,
                GenerationJob.error_message,
                GenerationJob.result_path,
                GenerationJob.completed_at,
                Publication.youtube_video_id,
                Publication.account_id,
                Publication.video_job_id,
            )
            .outerjoin(Publication, Publication.job_id == GenerationJob.id)
            .where(
                GenerationJob.id.in_(job_ids),
                GenerationJob.status.in_(list(ANNOUNCED_TYPES)),
                GenerationJob.kind != PREVIEW_KIND,  # a scene's draft, for its reviewer alone
            )
        )
        now = utcnow()
        rows = []
        for job in jobs:
            published = job.kind == PUBLISH_KIND and job.status == "completed"
            youtube = (
                {
                    "videoId": job.youtube_video_id,
                    "url": watch_url(job.youtube_video_id),
                    "accountId": job.account_id,
                    "videoJobId": job.video_job_id,
                }
                if published and job.youtube_video_id is not None
                else None
            )
            message_type, body = job_ended_body(
                state=job.status,
                job_id=job.id,
                kind=job.kind,
                subject=(job.payload or {}).get("videoSubject"),
                attempt=job.attempt_count,
                error=job.error_message,
                has_video=job.result_path is not None,
                at=job.completed_at or now,
                youtube=youtube,
            )
            message_id = new_message_id()
            rows += [
                {
                    "message_id": message_id,
                    "event_type": message_type,
                    "job_id": job.id,
                    "endpoint": endpoint,
                    "body": body,
                    "status": PENDING,
                    "attempt_count": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for endpoint in endpoints
            ]
        if rows:
            await self.session.execute(insert(WebhookDelivery), rows)

    async def claim(
        self, *, endpoints: Sequence[str], limit: int, hold_s: float
    ) -> list[WebhookDelivery]:
        """Take up to `limit` due deliveries to `endpoints` for one attempt each: counted, and
        not due again for `hold_s` (should the sender die, they are retried then). Concurrent
        senders skip each other's rows."""
        if not endpoints or limit <= 0:
            return []
        now = utcnow()
        due = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.endpoint.in_(list(endpoints)),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
        if self.dialect.locks_rows:
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(
                claim_token=secrets.token_hex(16),
                attempt_count=WebhookDelivery.attempt_count + 1,
                next_attempt_at=now + timedelta(seconds=hold_s),
                last_attempt_at=now,
            )
            .returning(WebhookDelivery)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        claimed = list((await self.session.scalars(statement)).all())
        claimed.sort(key=lambda delivery: (delivery.next_attempt_at, delivery.id))
        return claimed

    async def record(
        self,
        delivery: WebhookDelivery,
        *,
        delivered: bool,
        status_code: int | None,
        error: str | None,
        retry_at: datetime | None,
    ) -> bool:
        """An attempt's outcome: delivered; or failed, to be tried again at `retry_at` (None:
        given up). Fenced by the claim: False when another sender has claimed it since."""
        now = utcnow()
        if delivered:
            values = {"status": DELIVERED, "delivered_at": now, "last_error": None}
        elif retry_at is not None:
            values = {"status": PENDING, "next_attempt_at": retry_at, "last_error": error}
        else:
            values = {"status": FAILED, "last_error": error}
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.claim_token == delivery.claim_token,
                WebhookDelivery.status == PENDING,
            )
            .values(**values, last_status_code=status_code, claim_token=None)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def get(self, delivery_id: int) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id, populate_existing=True)

    async def for_job(self, job_id: str) -> Sequence[WebhookDelivery]:
        return (
            await self.session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.job_id == job_id)
                .order_by(WebhookDelivery.id)
            )
        ).all()

    async def page(
        self, *, status: str | None, limit: int, offset: int
    ) -> tuple[Sequence[WebhookDelivery], int]:
        """Deliveries, newest first, and how many match in all."""
        query = select(WebhookDelivery)
        count = select(func.count()).select_from(WebhookDelivery)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
            count = count.where(WebhookDelivery.status == status)
        rows = await self.session.scalars(
            query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(await self.session.scalar(count) or 0)

    async def redeliver(self, delivery_id: int) -> WebhookDelivery | None:
        """Send a failed delivery again, from the start of the retry schedule. None when there
        is no such delivery or it has not failed."""
        statement = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == FAILED)
            .values(status=PENDING, attempt_count=0, next_attempt_at=utcnow(), claim_token=None)
            .returning(WebhookDelivery)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()
