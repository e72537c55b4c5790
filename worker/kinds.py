"""Job kinds. A `video` job runs the pipeline in a child process (worker/runner.py), and so does
a `preview` (one scene of a storyboard, as a draft); the kinds registered here run as a
coroutine in the worker's own event loop instead.

An in-loop body must be short and must never block the loop: it shares it with the heartbeat and
every other job. It gets the job (id, attempt, payload, log) and returns when done; an exception
is a retryable failure, and a cancel, lost lease, timeout or shutdown cancels its task.

`noop` finishes at once: the queue benchmark drains it to measure the queue alone, with no child
process in the way. A deployment (or a test) can register more with `in_loop_kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.domain import PREVIEW_KIND

if TYPE_CHECKING:
    from worker.runner import RunningJob

VIDEO = "video"
CHILD_KINDS = frozenset({VIDEO, PREVIEW_KIND})

InLoopBody = Callable[["RunningJob"], Coroutine[Any, Any, None]]
IN_LOOP_KINDS: dict[str, InLoopBody] = {}


def in_loop_kind(name: str) -> Callable[[InLoopBody], InLoopBody]:
    """Register a coroutine function as the body of job kind `name`."""

    def register(body: InLoopBody) -> InLoopBody:
        if name in CHILD_KINDS:
            raise ValueError(f"the {name} kind runs the pipeline and cannot be replaced")
        IN_LOOP_KINDS[name] = body
        return body

    return register


@in_loop_kind("noop")
async def noop(_job: RunningJob) -> None:
    return None
