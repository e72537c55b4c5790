"""Queue metrics: JSON at /api/metrics, Prometheus text at /metrics (the same figures)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from app.api.deps import SessionDep, SettingsDep
from app.api.routes import ERRORS
from app.db.repositories.metrics import MetricsRepository
from app.prometheus import CONTENT_TYPE, render_prometheus
from app.queue_metrics import QueueMetrics
from app.schemas import MetricsResponse
from app.settings import Settings

router = APIRouter(tags=["metrics"])


class PrometheusResponse(PlainTextResponse):
    media_type = CONTENT_TYPE


PROMETHEUS_EXAMPLE = """\
# HELP moneyprinter_jobs Jobs by state; the final states (completed, failed, cancelled) are the \
outcomes.
# TYPE moneyprinter_jobs gauge
moneyprinter_jobs{state="queued"} 3
moneyprinter_jobs{state="running"} 2
"""


def worker_stale_after_s(settings: Settings) -> float:
    """How old a worker's heartbeat may be before the worker no longer counts as live: three
    missed heartbeats, and never less than a lease (the reaper's own patience)."""
    return max(3 * settings.heartbeat_interval_s, settings.lease_s)


async def _collect(session: SessionDep, settings: Settings) -> QueueMetrics:
    return await MetricsRepository(session).collect(
        worker_stale_after_s=worker_stale_after_s(settings)
    )


@router.get(
    "/api/metrics", response_model=MetricsResponse, responses={**ERRORS}, summary="Queue metrics"
)
async def get_metrics(session: SessionDep, settings: SettingsDep) -> MetricsResponse:
    """Jobs by state, the ready queue, pickup latency and run time histograms, retries, rescued
    leases and the live workers. The histograms and counts cover the jobs still in the database
    (retention prunes finished ones)."""
    return MetricsResponse.model_validate(await _collect(session, settings))


@router.get(
    "/metrics",
    response_class=PrometheusResponse,
    responses={
        200: {
            "content": {CONTENT_TYPE: {"example": PROMETHEUS_EXAMPLE}},
            "description": "Prometheus text exposition format 0.0.4",
        },
        **ERRORS,
    },
    summary="Queue metrics for Prometheus",
)
async def get_prometheus_metrics(session: SessionDep, settings: SettingsDep) -> PrometheusResponse:
    """The figures of `/api/metrics` as Prometheus gauges and histograms, named `moneyprinter_*`."""
    return PrometheusResponse(render_prometheus(await _collect(session, settings)))
