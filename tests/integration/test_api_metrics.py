"""Queue metrics on SQLite and Postgres: a known queue built with the repository, read back from
`/api/metrics` (JSON) and `/metrics` (Prometheus text, read with prometheus_client's parser)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationJob, WorkerRecord, utcnow
from app.db.repositories import Repositories
from app.domain import JobStatus
from app.main import create_app
from app.prometheus import render_prometheus
from app.queue_metrics import (
    PICKUP_BUCKETS_S,
    RECENT_WINDOW_S,
    RUN_TIME_BUCKETS_S,
    Histogram,
    QueueDepth,
    QueueMetrics,
    RecentOutcomes,
    WorkerStatus,
)
from app.settings import Settings

Maker = async_sessionmaker[AsyncSession]
PAYLOAD = {"videoSubject": "tides", "script": "The moon pulls the sea."}
OLDEST_READY_AGE_S = 100.0
# Slack for the seconds that pass between building the state and reading it.
SLACK_S = 20.0


@dataclass(frozen=True)
class Timing:
    """Pickup latency (claimed_at - run_at) and, for a finished job, run time (completed_at -
    claimed_at), written over what the repository recorded."""

    pickup_s: float
    run_s: float | None = None


# Whole milliseconds (SQLite measures to the millisecond); 0.05 and 60 sit exactly on a bound.
TIMINGS = {
    "completed": Timing(pickup_s=0.003, run_s=0.7),
    "failed": Timing(pickup_s=0.2, run_s=60.0),
    "cancelled": Timing(pickup_s=7.0, run_s=4000.0),
    "running": Timing(pickup_s=0.05),
    "reaped_failed": Timing(pickup_s=400.0, run_s=30.0),
}
PICKUP_CUMULATIVE = [1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4]
PICKUP_COUNT, PICKUP_SUM_S = 5, 407.253
RUN_CUMULATIVE = [0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 3]
RUN_COUNT, RUN_SUM_S = 4, 4090.7
JOBS_BY_STATE = {
    "queued": 3, "running": 1, "awaiting_review": 0, "completed": 1, "failed": 2, "cancelled": 2,
}  # fmt: skip


async def create(maker: Maker, **options: Any) -> str:
    async with maker.begin() as session:
        job = await Repositories(session).jobs.create(payload=PAYLOAD, **options)
    return job.id


async def claim(maker: Maker, *, lease_s: float = 30) -> GenerationJob:
    async with maker.begin() as session:
        [job] = await Repositories(session).leases.claim(
            worker_id="live-1", limit=1, lease_s=lease_s
        )
    return job


async def set_timing(maker: Maker, job_id: str, timing: Timing, *, base: datetime) -> None:
    claimed_at = base + timedelta(seconds=timing.pickup_s)
    values: dict[str, Any] = {"run_at": base, "claimed_at": claimed_at}
    if timing.run_s is not None:
        values["completed_at"] = claimed_at + timedelta(seconds=timing.run_s)
    async with maker.begin() as session:
        await session.execute(
            update(GenerationJob).where(GenerationJob.id == job_id).values(**values)
        )


async def build_queue(maker: Maker) -> None:
    """Nine jobs, in every state, and three workers, one of them stale.

    completed, failed, cancelled (by its worker), running: claimed, with known timings.
    retrying: claimed, then a retry scheduled 10 minutes ahead (queued, scheduled).
    rescued: claimed with an expired lease and reaped back to the queue (queued, ready).
    reaped_failed: on its last attempt, claimed with an expired lease and reaped to `failed`.
    waiting: never claimed, ready for 100 s. cancelled_queued: cancelled before any claim.
    """
    claimed: dict[str, GenerationJob] = {}
    for name in ("completed", "failed", "cancelled", "running", "retrying"):
        await create(maker)
        claimed[name] = await claim(maker)
    await create(maker)
    claimed["rescued"] = await claim(maker, lease_s=-1)
    await create(maker, max_attempts=1)
    claimed["reaped_failed"] = await claim(maker, lease_s=-1)
    waiting_id = await create(maker)
    cancelled_queued_id = await create(maker)

    async with maker.begin() as session:
        repository = Repositories(session)
        job = claimed["completed"]
        assert await repository.leases.mark_completed(
            job.id, job.lease_token or "", result_path="v.mp4"
        )
        job = claimed["failed"]
        assert await repository.leases.mark_failed(job.id, job.lease_token or "", error="bad input")
        job = claimed["cancelled"]
        assert await repository.leases.mark_cancelled(job.id, job.lease_token or "")
        job = claimed["retrying"]
        assert await repository.leases.schedule_retry(
            job.id, job.lease_token or "", attempt=1, error="HTTP 503", delay_s=600
        )
        reaped = await repository.leases.reap_expired()
        assert {job.id: job.status for job in reaped} == {
            claimed["rescued"].id: "queued",
            claimed["reaped_failed"].id: "failed",
        }
        assert await repository.jobs.request_cancel(cancelled_queued_id) is not None

    base = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    for name, timing in TIMINGS.items():
        await set_timing(maker, claimed[name].id, timing, base=base)
    async with maker.begin() as session:
        await session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == waiting_id)
            .values(run_at=utcnow() - timedelta(seconds=OLDEST_READY_AGE_S))
        )
    await register_workers(maker)


async def register_workers(maker: Maker) -> None:
    async with maker.begin() as session:
        repository = Repositories(session)
        await repository.workers.register("live-1", slots=4, version="test")
        await repository.workers.touch("live-1", busy=2)
        await repository.workers.register("live-2", slots=2, version="test")
        await repository.workers.register("stale", slots=8, version="test")
        # Older than max(3 heartbeats, a lease) = 30 s with the default settings.
        await session.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == "stale")
            .values(heartbeat_at=utcnow() - timedelta(seconds=300))
        )


def prometheus_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels, after checking each family has HELP, TYPE and our
    prefix."""
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("moneyprinter_"), family.name
        assert family.documentation, family.name
        assert family.type in ("gauge", "histogram"), family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def histogram_samples(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> tuple[list[tuple[float, float]], float, float]:
    """(le, cumulative count) pairs in bound order, then the sum and count."""
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (sample, labels), value in samples.items()
        if sample == f"{name}_bucket"
    )
    return buckets, samples[(f"{name}_sum", ())], samples[(f"{name}_count", ())]


async def test_metrics_report_a_known_queue(client: httpx.AsyncClient, sessionmaker: Maker) -> None:
    await build_queue(sessionmaker)

    response = await client.get("/api/metrics")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert body["jobs"] == JOBS_BY_STATE
    queued = body["queued"]
    assert (queued["ready"], queued["scheduled"]) == (2, 1)
    assert OLDEST_READY_AGE_S <= queued["oldestReadyAgeSeconds"] < OLDEST_READY_AGE_S + SLACK_S
    pickup = body["pickupLatency"]
    assert [bucket["le"] for bucket in pickup["buckets"]] == list(PICKUP_BUCKETS_S)
    assert [bucket["count"] for bucket in pickup["buckets"]] == PICKUP_CUMULATIVE
    assert pickup["count"] == PICKUP_COUNT
    assert pickup["sumSeconds"] == pytest.approx(PICKUP_SUM_S, abs=1e-3)
    # Ranks 2.5 and 4.75 of 5: halfway through (0.1, 0.25], and past the last bound.
    assert pickup["p50Seconds"] == pytest.approx(0.175)
    assert pickup["p95Seconds"] == 300.0
    run_time = body["runTime"]
    assert [bucket["le"] for bucket in run_time["buckets"]] == list(RUN_TIME_BUCKETS_S)
    assert [bucket["count"] for bucket in run_time["buckets"]] == RUN_CUMULATIVE
    assert run_time["count"] == RUN_COUNT
    assert run_time["sumSeconds"] == pytest.approx(RUN_SUM_S, abs=1e-3)
    assert (body["retries"], body["rescuedLeases"]) == (2, 2)
    workers = body["workers"]
    assert [(w["id"], w["slots"], w["busy"]) for w in workers] == [
        ("live-1", 4, 2),
        ("live-2", 2, 0),
    ]
    assert all(0 <= worker["heartbeatAgeSeconds"] < SLACK_S for worker in workers)
    assert (body["busySlots"], body["totalSlots"]) == (2, 6)
    # Within the last hour: the job cancelled while queued (just now) and the one cancelled by its
    # worker (4007 s after a base two hours back); the others ended over an hour ago.
    assert body["recent"] == {"windowSeconds": 3600, "completed": 0, "failed": 0, "cancelled": 2}


async def test_prometheus_text_reports_the_same_queue(
    client: httpx.AsyncClient, sessionmaker: Maker
) -> None:
    await build_queue(sessionmaker)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = prometheus_samples(response.text)
    for state, count in JOBS_BY_STATE.items():
        assert samples[("moneyprinter_jobs", (("state", state),))] == count
    assert samples[("moneyprinter_ready_jobs", ())] == 2
    assert samples[("moneyprinter_scheduled_jobs", ())] == 1
    age_s = samples[("moneyprinter_oldest_ready_job_age_seconds", ())]
    assert OLDEST_READY_AGE_S <= age_s < OLDEST_READY_AGE_S + SLACK_S
    buckets, total_s, count = histogram_samples(samples, "moneyprinter_job_pickup_latency_seconds")
    assert buckets == [
        *zip(PICKUP_BUCKETS_S, PICKUP_CUMULATIVE, strict=True),
        (float("inf"), PICKUP_COUNT),
    ]
    assert (count, total_s) == (PICKUP_COUNT, pytest.approx(PICKUP_SUM_S, abs=1e-3))
    buckets, total_s, count = histogram_samples(samples, "moneyprinter_job_run_duration_seconds")
    assert buckets == [
        *zip(RUN_TIME_BUCKETS_S, RUN_CUMULATIVE, strict=True),
        (float("inf"), RUN_COUNT),
    ]
    assert (count, total_s) == (RUN_COUNT, pytest.approx(RUN_SUM_S, abs=1e-3))
    assert samples[("moneyprinter_job_retries", ())] == 2
    assert samples[("moneyprinter_rescued_leases", ())] == 2
    assert samples[("moneyprinter_live_workers", ())] == 2
    assert samples[("moneyprinter_slots", ())] == 6
    assert samples[("moneyprinter_busy_slots", ())] == 2
    recent = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "moneyprinter_recently_finished_jobs"
    }
    assert recent == {"completed": 0, "failed": 0, "cancelled": 2}
    per_worker = {
        (name, dict(labels)["worker"]): value
        for (name, labels), value in samples.items()
        if name.startswith("moneyprinter_worker_")
    }
    assert {key: value for key, value in per_worker.items() if "heartbeat" not in key[0]} == {
        ("moneyprinter_worker_slots", "live-1"): 4,
        ("moneyprinter_worker_busy_slots", "live-1"): 2,
        ("moneyprinter_worker_slots", "live-2"): 2,
        ("moneyprinter_worker_busy_slots", "live-2"): 0,
    }
    ages = {key[1]: v for key, v in per_worker.items() if "heartbeat" in key[0]}
    assert set(ages) == {"live-1", "live-2"}
    assert all(0 <= age < SLACK_S for age in ages.values())


async def test_an_empty_queue_reports_zeros(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/metrics")).json()
    text = (await client.get("/metrics")).text

    assert body["jobs"] == dict.fromkeys(JOBS_BY_STATE, 0)
    assert body["queued"] == {"ready": 0, "scheduled": 0, "oldestReadyAgeSeconds": 0.0}
    for histogram in (body["pickupLatency"], body["runTime"]):
        assert histogram["count"] == 0 and histogram["sumSeconds"] == 0.0
        assert all(bucket["count"] == 0 for bucket in histogram["buckets"])
        assert histogram["p50Seconds"] is None and histogram["p95Seconds"] is None
    assert (body["retries"], body["rescuedLeases"], body["workers"]) == (0, 0, [])
    assert body["recent"] == {"windowSeconds": 3600, "completed": 0, "failed": 0, "cancelled": 0}
    samples = prometheus_samples(text)
    assert samples[("moneyprinter_jobs", (("state", "queued"),))] == 0
    assert samples[("moneyprinter_job_pickup_latency_seconds_count", ())] == 0
    assert samples[("moneyprinter_live_workers", ())] == 0
    assert not any(name.startswith("moneyprinter_worker_") for name, _ in samples)


async def test_metrics_need_the_api_key_when_one_is_set(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"api_key": "secret"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for path in ("/api/metrics", "/metrics"):
                assert (await client.get(path)).status_code == 401
                keyed = await client.get(path, headers={"Authorization": "Bearer secret"})
                assert keyed.status_code == 200


def test_prometheus_label_values_are_escaped() -> None:
    odd_id = 'host "a"\\b:1:x'
    empty = Histogram(bounds_s=(1.0,), cumulative_counts=(0,), count=0, sum_s=0.0)
    metrics = QueueMetrics(
        collected_at=datetime.now(UTC),
        jobs=dict.fromkeys(JobStatus, 0),
        queued=QueueDepth(ready=0, scheduled=0, oldest_ready_age_s=0.0),
        pickup_latency=empty,
        run_time=empty,
        retries=0,
        rescued_leases=0,
        workers=(WorkerStatus(id=odd_id, slots=1, busy=1, heartbeat_age_s=0.5),),
        recent=RecentOutcomes(window_s=RECENT_WINDOW_S, completed=0, failed=0, cancelled=0),
    )

    samples = prometheus_samples(render_prometheus(metrics))

    assert samples[("moneyprinter_worker_busy_slots", (("worker", odd_id),))] == 1
