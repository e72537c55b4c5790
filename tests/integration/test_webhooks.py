"""Webhooks on each database: a job's end is written to the outbox in the transaction that ends
it, and a real Worker delivers it, signed, to a loopback receiver that verifies the signature as
the Standard Webhooks specification says, retrying until the receiver accepts, across a restart;
the API shows each delivery and sends a failed one again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.models import WebhookDelivery, utcnow
from app.db.repositories import Repositories
from app.db.session import create_sessionmaker
from app.settings import Settings
from app.webhooks import new_secret
from tests.fakes.webhook_receiver import Receiver, webhook_receiver
from tests.integration.test_worker import SHORT_SCRIPT, queue_job, read_job, wait_for
from tests.support.running import api_client, running_worker

Maker = async_sessionmaker[AsyncSession]
SECRET = new_secret()
RUN_TIMEOUT_S = 60.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRET) as receiver:
        yield receiver


def with_webhooks(settings: Settings, *endpoints: str, **more: object) -> Settings:
    return settings.model_copy(
        update={
            "webhook_urls": list(endpoints),
            "webhook_secret": SECRET,
            "webhook_retry_schedule_s": [0.2, 0.2, 0.2],
            "webhook_timeout_s": 2.0,
            "webhook_poll_interval_s": 0.1,
            **more,
        }
    )


def announcing(engine: AsyncEngine, settings: Settings) -> Maker:
    return create_sessionmaker(engine, webhook_endpoints=settings.webhook_urls)


async def queue_noop(maker: Maker) -> str:
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(
            payload={"videoSubject": "octopuses"}, kind="noop"
        )
    return job.id


async def delivered_to(receiver: Receiver, count: int = 1) -> None:
    """Wait until the receiver has accepted `count` deliveries."""

    async def accepted() -> bool:
        return len(receiver.delivered()) >= count

    await wait_for(accepted, timeout_s=RUN_TIMEOUT_S)


async def deliveries(maker: Maker, job_id: str) -> list[WebhookDelivery]:
    async with maker() as session:
        return list(await Repositories(session).webhooks.for_job(job_id))


async def test_a_job_end_is_retried_with_one_message_id_until_the_receiver_takes_it(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, f"{receiver.url}/hooks?token=t0p")
    maker = announcing(engine, settings)
    receiver.answers += [500, 503]  # then 204
    job_id = await queue_noop(maker)

    async with running_worker(settings, maker):
        await delivered_to(receiver)

    got = receiver.received
    assert [r.answered for r in got] == [500, 503, 204]
    assert all(r.verified for r in got)
    assert all(r.path == "/hooks?token=t0p" for r in got)
    assert len({r.message_id for r in got}) == 1  # one message, three attempts
    assert abs(got[-1].timestamp - time.time()) < 60
    message = got[-1].message
    assert message["type"] == "job.completed"
    assert message["data"]["jobId"] == job_id
    assert message["data"]["state"] == "completed"
    assert message["data"]["links"]["job"] == f"/api/jobs/{job_id}"
    assert "video" not in message["data"]["links"]  # a noop job makes no video

    async with api_client(settings) as client:
        response = await client.get(f"/api/jobs/{job_id}/webhooks")
    assert response.status_code == 200
    (shown,) = response.json()["deliveries"]
    assert shown["status"] == "delivered"
    assert shown["attempts"] == 3
    assert shown["lastStatusCode"] == 204
    assert shown["lastError"] is None
    assert shown["messageId"] == got[-1].message_id
    assert shown["type"] == "job.completed"
    assert shown["endpoint"] == f"{receiver.url}/hooks?…"  # the token is not shown
    assert "t0p" not in response.text


async def test_a_rendered_video_and_a_failed_job_are_announced_with_what_a_receiver_needs(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url)
    maker = announcing(engine, settings)
    video_id = await queue_job(maker, script=SHORT_SCRIPT)
    failing_id = await queue_job(maker)  # no script and no LLM: fails for good, at once

    async with running_worker(settings, maker):
        await delivered_to(receiver, 2)

    messages = {r.message["data"]["jobId"]: r.message for r in receiver.delivered()}
    video = messages[video_id]
    assert video["type"] == "job.completed"
    assert video["data"]["links"]["video"] == f"/api/jobs/{video_id}/video"
    assert video["data"]["videoSubject"] == "octopuses"
    failed = messages[failing_id]
    assert failed["type"] == "job.failed"
    assert failed["data"]["state"] == "failed"
    assert failed["data"]["errorMessage"] == (await read_job(maker, failing_id)).error_message
    assert "video" not in failed["data"]["links"]


async def test_deliveries_outlive_the_worker_that_failed_to_send_them(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url, webhook_retry_schedule_s=[1.0, 1.0])
    maker = announcing(engine, settings)
    receiver.answers += [500]
    job_id = await queue_noop(maker)

    async with running_worker(settings, maker):

        async def first_attempt() -> bool:
            rows = await deliveries(maker, job_id)
            return bool(rows) and rows[0].last_status_code == 500

        await wait_for(first_attempt, timeout_s=20)
    assert not receiver.delivered()
    (pending,) = await deliveries(maker, job_id)
    assert pending.status == "pending"

    async with running_worker(settings, maker):  # another worker, after a restart
        await delivered_to(receiver)

    (done,) = await deliveries(maker, job_id)
    assert done.status == "delivered"
    assert done.attempt_count == 2
    assert {r.message_id for r in receiver.received} == {done.message_id}


async def test_a_queued_job_cancelled_by_the_api_is_announced_in_the_cancel_itself(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url)
    maker = announcing(engine, settings)
    job_id = await queue_noop(maker)
    async with api_client(settings) as client:
        response = await client.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code == 200
        listed = (await client.get(f"/api/jobs/{job_id}/webhooks")).json()["deliveries"]
    assert [(d["type"], d["status"]) for d in listed] == [("job.cancelled", "pending")]

    async with running_worker(settings, maker):
        await delivered_to(receiver)
    assert receiver.delivered()[0].message["type"] == "job.cancelled"


async def test_nothing_is_announced_without_endpoints_or_when_the_lease_was_lost(
    settings: Settings, engine: AsyncEngine, sessionmaker: Maker
) -> None:
    maker = announcing(engine, with_webhooks(settings, "http://127.0.0.1:9/hooks"))
    quiet_id = await queue_noop(sessionmaker)
    lost_id = await queue_noop(maker)
    async with maker.begin() as session:
        claimed = await Repositories(session).leases.claim(worker_id="w", limit=2, lease_s=30)
    assert {job.id for job in claimed} == {quiet_id, lost_id}
    async with sessionmaker.begin() as session:  # no endpoints: completes, announces nothing
        assert await Repositories(session).leases.mark_completed(
            quiet_id, next(j.lease_token for j in claimed if j.id == quiet_id) or "",
            result_path=None,
        )  # fmt: skip
    async with maker.begin() as session:  # a stale token changes nothing, and announces nothing
        assert not await Repositories(session).leases.mark_failed(lost_id, "stale", error="x")
    async with maker() as session:
        assert (await session.scalars(select(WebhookDelivery))).all() == []


async def test_only_configured_endpoints_are_called(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    with webhook_receiver(SECRET) as other:
        # Announced to both (an API whose settings name both), sent by a worker that names one.
        maker = announcing(engine, with_webhooks(settings, receiver.url, other.url))
        job_id = await queue_noop(maker)
        async with running_worker(with_webhooks(settings, receiver.url), maker):
            await delivered_to(receiver)
            await asyncio.sleep(0.5)  # rounds enough to have sent the other too, were it allowed
        assert other.received == []
    statuses = {d.endpoint: d.status for d in await deliveries(maker, job_id)}
    assert statuses == {receiver.url: "delivered", other.url: "pending"}


async def test_a_gone_endpoint_fails_at_once_and_a_redelivery_sends_the_same_message(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url)
    maker = announcing(engine, settings)
    receiver.answers += [410]
    job_id = await queue_noop(maker)
    async with running_worker(settings, maker):

        async def failed() -> bool:
            rows = await deliveries(maker, job_id)
            return bool(rows) and rows[0].status == "failed"

        await wait_for(failed, timeout_s=20)
        (row,) = await deliveries(maker, job_id)
        assert row.attempt_count == 1
        assert row.last_status_code == 410
        assert row.last_error is not None and row.last_error.startswith("HTTP 410")

        async with api_client(settings) as client:
            again = await client.post(f"/api/webhooks/deliveries/{row.id}/redeliver")
            assert again.status_code == 200, again.text
            assert again.json()["delivery"]["status"] == "pending"

            await delivered_to(receiver)

            async def recorded() -> bool:  # the receiver has it before the worker records so
                return (await deliveries(maker, job_id))[0].status == "delivered"

            await wait_for(recorded, timeout_s=20)
            twice = await client.post(f"/api/webhooks/deliveries/{row.id}/redeliver")
            assert twice.status_code == 409
            assert twice.json()["message"] == (
                "The delivery is delivered; only a failed delivery is sent again."
            )
            missing = await client.post("/api/webhooks/deliveries/999999/redeliver")
            assert missing.status_code == 404
            page = (await client.get("/api/webhooks/deliveries?status=delivered")).json()
    assert [r.message_id for r in receiver.received] == [row.message_id] * 2
    assert page["total"] == 1
    assert page["deliveries"][0]["id"] == row.id


async def test_an_endpoint_that_does_not_answer_is_timed_out_and_retried(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url, webhook_timeout_s=0.5)
    maker = announcing(engine, settings)
    receiver.answers += ["hang"]
    job_id = await queue_noop(maker)
    async with running_worker(settings, maker):
        await delivered_to(receiver)
    (row,) = await deliveries(maker, job_id)
    assert row.status == "delivered"
    assert row.attempt_count == 2
    assert [r.answered for r in receiver.received] == ["hang", 204]


async def test_a_delivery_held_by_a_dead_sender_is_sent_again_after_its_hold(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url)
    maker = announcing(engine, settings)
    job_id = await queue_noop(maker)
    async with maker.begin() as session:
        claimed = await Repositories(session).leases.claim(worker_id="w", limit=1, lease_s=30)
        await Repositories(session).leases.mark_completed(
            job_id, claimed[0].lease_token or "", result_path=None
        )
    async with maker.begin() as session:  # a sender claims the delivery, then dies
        (held,) = await Repositories(session).webhooks.claim(
            endpoints=[receiver.url], limit=5, hold_s=600
        )
    async with running_worker(settings, maker):
        await asyncio.sleep(0.5)
        assert receiver.received == []  # held: not sent twice at once
        async with maker.begin() as session:  # the hold runs out
            await session.execute(
                update(WebhookDelivery)
                .values(next_attempt_at=utcnow())
                .execution_options(synchronize_session=False)
            )

        await delivered_to(receiver)
    (row,) = await deliveries(maker, job_id)
    assert row.attempt_count == 2
    async with maker.begin() as session:  # the dead sender's late outcome changes nothing
        assert not await Repositories(session).webhooks.record(
            held, delivered=False, status_code=500, error="late", retry_at=None
        )
    (row,) = await deliveries(maker, job_id)
    assert row.status == "delivered"


async def test_a_plan_waiting_for_review_is_announced_with_its_storyboard(
    settings: Settings, engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = with_webhooks(settings, receiver.url)
    maker = announcing(engine, settings)
    job_id = await queue_job(maker, script=SHORT_SCRIPT, review=True)

    async with running_worker(settings, maker):
        await delivered_to(receiver)

    [message] = [r.message for r in receiver.delivered()]
    assert message["type"] == "job.awaiting_review"
    assert message["data"]["state"] == "awaiting_review"
    assert message["data"]["links"]["storyboard"] == f"/api/jobs/{job_id}/storyboard"
