"""The queue metrics in Prometheus' text exposition format 0.0.4 (a pure function, no I/O).

Every figure is a gauge or a histogram of the rows still in the database (see app/queue_metrics.py):
retention prunes finished jobs, so nothing here only grows, and nothing is a counter. Read the
histograms directly, not through `rate()`:
`histogram_quantile(0.95, moneyprinter_job_pickup_latency_seconds_bucket)`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from app.domain import JobStatus
from app.queue_metrics import Histogram, QueueMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "moneyprinter_"

Sample = tuple[Mapping[str, str], float]


def render_prometheus(metrics: QueueMetrics) -> str:
    """The exposition text: a HELP and a TYPE line per family, then its samples."""
    workers = metrics.workers
    lines: list[str] = []
    _gauge(
        lines,
        "jobs",
        "Jobs by state; the final states (completed, failed, cancelled) are the outcomes.",
        [({"state": state.value}, metrics.jobs[state]) for state in JobStatus],
    )
    _gauge(lines, "ready_jobs", "Queued jobs whose run_at has come.", [({}, metrics.queued.ready)])
    _gauge(
        lines,
        "scheduled_jobs",
        "Queued jobs whose run_at is in the future (waiting out a retry backoff).",
        [({}, metrics.queued.scheduled)],
    )
    _gauge(
        lines,
        "oldest_ready_job_age_seconds",
        "Seconds since the oldest ready job became ready (0 when none is).",
        [({}, metrics.queued.oldest_ready_age_s)],
    )
    _histogram(
        lines,
        "job_pickup_latency_seconds",
        "From a job's run_at to the claim of its latest attempt.",
        metrics.pickup_latency,
    )
    _histogram(
        lines,
        "job_run_duration_seconds",
        "From the claim of a finished job's latest attempt to its end.",
        metrics.run_time,
    )
    _gauge(lines, "job_retries", "Retry events of the jobs in the table.", [({}, metrics.retries)])
    _gauge(
        lines,
        "rescued_leases",
        "Expired leases taken back by the reaper, for the jobs in the table.",
        [({}, metrics.rescued_leases)],
    )
    _gauge(
        lines,
        "recently_finished_jobs",
        f"Jobs that reached each final state in the last {metrics.recent.window_s} seconds.",
        [({"state": state.value}, count) for state, count in metrics.recent.by_state.items()],
    )
    _gauge(lines, "live_workers", "Workers with a recent heartbeat.", [({}, len(workers))])
    _gauge(lines, "slots", "Job slots of the live workers.", [({}, metrics.total_slots)])
    _gauge(lines, "busy_slots", "Busy job slots of the live workers.", [({}, metrics.busy_slots)])
    _gauge(
        lines,
        "worker_slots",
        "Job slots of a live worker.",
        [({"worker": worker.id}, worker.slots) for worker in workers],
    )
    _gauge(
        lines,
        "worker_busy_slots",
        "Busy job slots of a live worker.",
        [({"worker": worker.id}, worker.busy) for worker in workers],
    )
    _gauge(
        lines,
        "worker_heartbeat_age_seconds",
        "Seconds since a live worker's last heartbeat.",
        [({"worker": worker.id}, worker.heartbeat_age_s) for worker in workers],
    )
    return "\n".join(lines) + "\n"


def _gauge(lines: list[str], name: str, help_text: str, samples: Iterable[Sample]) -> None:
    _header(lines, name, help_text, "gauge")
    lines.extend(_sample(PREFIX + name, labels, value) for labels, value in samples)


def _histogram(lines: list[str], name: str, help_text: str, histogram: Histogram) -> None:
    _header(lines, name, help_text, "histogram")
    full_name = PREFIX + name
    for bound, cumulative in zip(histogram.bounds_s, histogram.cumulative_counts, strict=True):
        lines.append(_sample(f"{full_name}_bucket", {"le": _number(bound)}, cumulative))
    lines.append(_sample(f"{full_name}_bucket", {"le": "+Inf"}, histogram.count))
    lines.append(_sample(f"{full_name}_sum", {}, histogram.sum_s))
    lines.append(_sample(f"{full_name}_count", {}, histogram.count))


def _header(lines: list[str], name: str, help_text: str, kind: str) -> None:
    escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    lines.append(f"# HELP {PREFIX}{name} {escaped}")
    lines.append(f"# TYPE {PREFIX}{name} {kind}")


def _sample(name: str, labels: Mapping[str, str], value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    pairs = ",".join(f'{key}="{_label_value(text)}"' for key, text in labels.items())
    return f"{name}{{{pairs}}} {_number(value)}"


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Integers without a decimal point; floats as Python writes them (Go's parser reads both);
    infinities and NaN spelled as the format asks."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
