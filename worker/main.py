"""The worker: claims jobs into free slots, runs each in a child process, renews leases, cancels,
records outcomes, and shuts down without losing a job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clip_uploads import SOURCE as UPLOAD_SOURCE
from app.clip_uploads import copy_out, is_upload_name, uploads_folder
from app.db.models import GenerationJob
from app.db.repositories import Repositories
from app.db.repositories.accounts import check_secret_key
from app.db.session import autocommits_one_statement, is_transient_error
from app.domain import PREVIEW_KIND, PUBLISH_KIND, EventLevel, EventType, VideoSpec
from app.settings import Settings
from app.storage import StorageError
from app.storyboard import Storyboard
from app.version import app_version
from worker.bucket import pull_stages, push_stage, stage_song, stages_prefix, store_outputs
from worker.completer import Completer
from worker.errors import Deferred, PipelineError
from worker.kinds import CHILD_KINDS, IN_LOOP_KINDS, VIDEO, InLoopBody
from worker.options import PipelineOptions
from worker.providers.http import scrub
from worker.publish import Publisher
from worker.retention import prune_cache, prune_expired, remove_folders, remove_scratch
from worker.retry import retry_delay_s, should_retry
from worker.runner import (
    STAGES_DIR,
    ChildExit,
    JobLog,
    Outcome,
    RunningJob,
    prepare_work_dir,
    run_child,
)
from worker.wakeup import asyncpg_dsn, listen_for_jobs
from worker.webhooks import WebhookSender

logger = logging.getLogger("worker")

T = TypeVar("T")

DB_ATTEMPTS = 5
DB_BACKOFF_BASE_S = 0.2
DB_BACKOFF_CAP_S = 5.0
POLL_JITTER = 0.25


def new_worker_id() -> str:
    """`host:pid:random`: unique per process start, so a restarted worker is a new worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class DatabaseUnavailable(Exception):
    """The database stayed unreachable through every retry of one operation."""


class LeaseLost(Exception):
    """The claim no longer holds the job: whatever it produced is discarded."""


class Worker:
    """Runs queued jobs, `concurrency` at a time, each in its own child process."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        concurrency: int | None = None,
        worker_id: str | None = None,
        wake_event: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = worker_id or new_worker_id()
        self.options = PipelineOptions.from_settings(settings)
        # The job boundary: no configured secret reaches an event, an error message or a log
        # line, whatever a child or a provider behind it reports.
        self._secrets = settings.secret_values
        # Set by a new job (API in this process), a freed slot, or stop(): claim again now.
        self._wake = wake_event or asyncio.Event()
        self._stop_now = asyncio.Event()
        self._stopping = False
        self._running: dict[str, RunningJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._completer = Completer(self._db)
        self._webhooks = WebhookSender(settings, self._db) if settings.webhook_urls else None
        self._publisher = Publisher(settings, self._db)

    def running_child_pid(self, job_id: str) -> int | None:
        """The pid (and process group id) of a running job's child, if it has started."""
        job = self._running.get(job_id)
        return job.child.pid if job is not None and job.child is not None else None

    def stop(self, *, now: bool = False) -> None:
        """Stop claiming. Running jobs get `shutdown_grace_s` to finish (none when `now`), then
        they are killed and released to the queue without spending an attempt."""
        self._stopping = True
        self._wake.set()
        if now:
            self._stop_now.set()
            for job in self._running.values():
                job.stop("shutdown")

    async def run(self, *, wait: bool = True) -> None:
        """Work until stop(); with `wait=False`, return once the queue is empty and all is done.
        SecretKeyError at once when stored account tokens cannot be opened."""
        await check_secret_key(self.sessionmaker, self.settings.secret_key)
        await self._db(
            lambda db: db.workers.register(
                self.worker_id, slots=self.concurrency, version=app_version()
            )
        )
        logger.info("worker %s started with %d slot(s)", self.worker_id, self.concurrency)
        settings = self.settings
        loops = [
            asyncio.create_task(self._every(settings.heartbeat_interval_s, self._heartbeat)),
            asyncio.create_task(self._every(settings.cancel_check_interval_s, self._check_cancels)),
        ]
        loops.append(asyncio.create_task(self._every(settings.retention_interval_s, self._prune)))
        sender = None if self._webhooks is None else asyncio.create_task(self._webhooks.run())
        dsn = asyncpg_dsn(settings.resolved_direct_database_url) if settings.listen_notify else None
        if dsn is not None:
            loops.append(
                asyncio.create_task(listen_for_jobs(dsn, self._wake.set, name=self.worker_id))
            )
        try:
            await self._claim_loop(wait=wait)
        except asyncio.CancelledError:
            self.stop(now=True)
            raise
        finally:
            await self._wind_down()
            if sender is not None:
                await self._stop_sending(sender)
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            with contextlib.suppress(DatabaseUnavailable):
                await self._db(lambda db: db.workers.remove(self.worker_id))
            logger.info("worker %s stopped", self.worker_id)

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self, *, wait: bool) -> None:
        while not self._stopping:
            # Clear before claiming: a wake-up that arrives during the claim then causes one
            # more round instead of being lost.
            self._wake.clear()
            free = self.concurrency - self._busy_slots()
            claimed = await self._claim(free) if free > 0 else 0
            if not wait and not claimed and not self._running:
                return
            jitter = random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval_s * jitter):
                    await self._wake.wait()

    def _busy_slots(self) -> int:
        """Jobs still executing. A finishing job's slot is free: its successor is claimed while
        its end is being written."""
        return sum(not job.finishing for job in self._running.values())

    async def _claim(self, free: int) -> int:
        """Claim up to `free` jobs in one statement and start a task for each."""

        async def claim(db: Repositories) -> list[RunningJob]:
            jobs = await db.leases.claim(
                worker_id=self.worker_id, limit=free, lease_s=self.settings.lease_s
            )
            return [self._running_job(job) for job in jobs]

        try:
            claimed = await self._db(claim, one_statement=True)
        except DatabaseUnavailable as exc:
            logger.warning("worker %s: claim failed, polling again: %s", self.worker_id, exc)
            return 0
        for job in claimed:
            self._running[job.id] = job
            task = asyncio.create_task(self._run_job(job), name=f"job-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    def _running_job(self, job: GenerationJob) -> RunningJob:
        extra = {"job_id": job.id, "attempt": job.attempt_count, "worker_id": self.worker_id}
        return RunningJob(
            job.id,
            job.kind,
            job.attempt_count,
            job.max_attempts,
            job.lease_token or "",
            dict(job.payload),
            JobLog(logger, extra),
            storyboard=job.storyboard if (job.storyboard or {}).get("approved") else None,
        )

    # -- one job -----------------------------------------------------------------------------

    async def _run_job(self, job: RunningJob) -> None:
        job.log.info("claimed")
        timeout = asyncio.get_running_loop().call_later(
            self.settings.job_timeout_s, job.stop, "timeout"
        )
        try:
            outcome = await self._execute(job)
            timeout.cancel()
            await self._record(job, outcome)
        except Exception as exc:  # the job boundary: one job's failure never stops the worker
            job.log.exception("the worker failed while running the job")
            if job.child is not None:
                job.child.kill()
            error = scrub(f"Worker error: {type(exc).__name__}: {exc}", self._secrets)
            # If even this fails, the job stays running until its lease ends and is reaped.
            with contextlib.suppress(DatabaseUnavailable):
                await self._db(
                    lambda db: db.leases.mark_failed(
                        job.id, job.token, error=error, details={"retryable": True}
                    )
                )
        finally:
            timeout.cancel()
            if self.settings.object_store is not None:  # the bucket has what is kept
                await asyncio.to_thread(
                    remove_scratch, self.settings.jobs_dir / job.id, job.attempt
                )
            self._running.pop(job.id, None)
            self._wake.set()
            if self._webhooks is not None:
                self._webhooks.nudge()  # its end may be announced

    async def _execute(self, job: RunningJob) -> Outcome:
        work_dir = self.settings.jobs_dir / job.id / str(job.attempt)
        body = self._publisher.publish if job.kind == PUBLISH_KIND else IN_LOOP_KINDS.get(job.kind)
        if body is not None:
            return await self._run_in_loop(job, body, work_dir)
        if job.kind not in CHILD_KINDS:
            error = {"message": f"Unknown job kind {job.kind!r}.", "retryable": False}
            return Outcome(work_dir, error=error)
        videos = self.settings.footage_memory_videos

        async def recent_clips(db: Repositories) -> set[str]:
            owner = await footage_owner(db, job.payload)
            if owner is None:
                return set()
            return await db.footage.recent(subject=owner[0], account=owner[1], videos=videos)

        # A reviewed storyboard names its clips: nothing is chosen, so nothing to avoid.
        recent = set() if job.storyboard is not None else await self._db(recent_clips)
        job_file = await asyncio.to_thread(
            prepare_work_dir,
            work_dir,
            job_id=job.id,
            attempt=job.attempt,
            spec=job.payload,
            recent_clips=recent,
            storyboard=job.storyboard,
            uploads_dir=uploads_folder(self.settings.data_dir, uploads_owner(job)),
            preview=job.kind == PREVIEW_KIND,
        )
        options = self.options
        store = self.settings.object_store
        stages_dir = self._stages_dir(job.id)
        pushes: list[asyncio.Task[None]] = []
        if store is not None:
            songs = job_file.parent / "songs"
            try:
                await stage_song(store, VideoSpec.model_validate(job.payload), songs)
            except StorageError as exc:
                return Outcome(job_file.parent, error={"message": str(exc), "stage": "music"})
            options = options.model_copy(update={"songs_dir": songs})
            # An earlier attempt may have run on another host: its stages come from the bucket.
            pulled = await pull_stages(store, stages_dir, job.id)
            if pulled:
                job.log.info("stages from the bucket: %s", ", ".join(pulled))
            try:
                await asyncio.to_thread(self._uploads_here, job)
            except StorageError as exc:
                return Outcome(job_file.parent, error={"message": str(exc), "stage": "footage"})
        if job.stop_reason is not None:
            return Outcome(job_file.parent)

        def push(stage: str) -> None:
            if store is not None:
                pushes.append(asyncio.create_task(push_stage(store, stages_dir, job.id, stage)))

        outcome = await run_child(
            job_file,
            options=options,
            on_start=job.started,
            on_progress=lambda line: self._progress(job, line),
            on_stage=push,
            secrets=self._secrets,
            niceness=self.settings.render_niceness,
        )
        assert outcome.exit is not None
        job.log.info("child process ended: %s", outcome.exit.describe())
        # Before the outcome is recorded: a retry claimed elsewhere must find the stages there.
        for pushed in await asyncio.gather(*pushes, return_exceptions=True):
            if isinstance(pushed, BaseException):
                job.log.warning("a stage was not copied to the bucket: %s", pushed)
        return outcome

    def _uploads_here(self, job: RunningJob) -> None:
        """The clips uploaded for a reviewed storyboard, copied from the bucket to this host."""
        if job.storyboard is None:
            return
        storyboard = Storyboard.model_validate(job.storyboard)
        for scene in storyboard.scenes:
            clip = storyboard.clips.get(scene.clip or "")
            if clip is not None and clip.source == UPLOAD_SOURCE and is_upload_name(clip.id):
                copy_out(
                    self.settings.object_store, job_id=uploads_owner(job), name=clip.id,
                    data_dir=self.settings.data_dir,
                )  # fmt: skip

    def _stages_dir(self, job_id: str) -> Path:
        """Where a job's stage records are kept on this host (worker/pipeline/stages.py)."""
        return self.settings.jobs_dir / job_id / STAGES_DIR

    async def _run_in_loop(self, job: RunningJob, body: InLoopBody, work_dir: Path) -> Outcome:
        """Run an in-loop kind's body as a task that stop() cancels. Its outcome reads like a
        child's: returned is exit 0 with an empty result, raised is a retryable error."""
        job.body = asyncio.create_task(body(job), name=f"body-{job.id}")
        if job.stop_reason is not None:  # stopped before it started
            job.body.cancel()
        try:
            await job.body
        except asyncio.CancelledError:
            if job.stop_reason is None:  # not ours: the worker itself is being cancelled
                raise
            return Outcome(work_dir)
        except Deferred as exc:
            return Outcome(work_dir, exit=ChildExit(0, ""), deferred=(exc.until, exc.message))
        except PipelineError as exc:
            error = {"message": exc.message, "retryable": exc.retryable, "stage": exc.stage}
            return Outcome(work_dir, exit=ChildExit(1, ""), error=error)
        except Exception as exc:
            error = {"message": f"{type(exc).__name__}: {exc}", "retryable": True}
            return Outcome(work_dir, exit=ChildExit(1, ""), error=error)
        return Outcome(work_dir, exit=ChildExit(0, ""), result={})

    async def _progress(self, job: RunningJob, line: dict[str, Any]) -> None:
        update = job.throttle.update_for(line, now_s=time.monotonic())
        if update is None or job.stop_reason is not None:
            return

        async def write(db: Repositories) -> None:
            stage, progress = update.stage, update.progress
            if await db.leases.record_progress(job.id, job.token, stage=stage, progress=progress):
                await db.events.add(
                    job.id,
                    update.event_type,
                    scrub(update.message, self._secrets),
                    level=update.level,
                    payload={"stage": stage, "progress": round(progress, 4)},
                )

        try:
            await self._db(write)
        except DatabaseUnavailable as exc:
            job.log.warning("progress not recorded: %s", exc)

    async def _record(self, job: RunningJob, outcome: Outcome) -> None:
        job.finishing = True
        self._wake.set()  # its slot is free
        reason = job.stop_reason
        if reason == "lost":
            job.log.warning("lease lost: the result is discarded")
        elif reason == "cancel":
            cancelled = await self._db(lambda db: db.leases.mark_cancelled(job.id, job.token))
            job.log.info("cancelled" if cancelled else "cancelled, but the lease was already lost")
        elif reason == "shutdown" and not outcome.succeeded:
            released = await self._db(
                lambda db: db.leases.release(job.id, job.token, reason="the worker shut down.")
            )
            job.log.info("released to the queue" if released else "lease lost before release")
        elif reason == "timeout":
            # Not retried: a job that used up the limit would most likely use it up again, and
            # each attempt would hold a slot that long (docs/architecture.md, "Retries").
            limit_s = self.settings.job_timeout_s
            error = (
                f"The job ran longer than its {limit_s:g} s limit and was stopped; it is not "
                "retried. A shorter script renders faster; the limit is MONEYPRINTER_JOB_TIMEOUT_S."
            )
            await self._fail_or_retry(job, error, {"retryable": False, "timeout": True})
        elif outcome.deferred is not None:
            until, why = outcome.deferred
            deferred = await self._db(
                lambda db: db.leases.defer(job.id, job.token, until=until, reason=why)
            )
            job.log.info("%s: %s", "deferred" if deferred else "lease lost before deferring", why)
        elif outcome.succeeded and outcome.review is not None:
            await self._await_review(job, outcome, outcome.review["storyboard"])
        elif outcome.succeeded and (job.kind not in CHILD_KINDS or outcome.video() is not None):
            await self._complete(job, outcome)
        else:
            if outcome.succeeded:
                outcome.error = {"message": "The pipeline reported no video file."}
            error, details = outcome.failure()
            await self._fail_or_retry(job, error, details)

    async def _fail_or_retry(self, job: RunningJob, error: str, details: dict[str, Any]) -> None:
        error = scrub(error, self._secrets)
        retryable = bool(details.get("retryable"))
        if should_retry(retryable=retryable, attempt=job.attempt, max_attempts=job.max_attempts):
            delay_s = retry_delay_s(
                job.attempt, base_s=self.settings.retry_base_s, cap_s=self.settings.retry_cap_s
            )
            retried = await self._db(
                lambda db: db.leases.schedule_retry(
                    job.id, job.token, attempt=job.attempt, error=error, delay_s=delay_s,
                    details=details,
                )
            )  # fmt: skip
            if retried:
                job.log.info("retrying in %.0f s: %s", delay_s, error)
            else:
                job.log.info("the lease was lost before the retry: %s", error)
            return
        failed = await self._db(
            lambda db: db.leases.mark_failed(job.id, job.token, error=error, details=details)
        )
        job.log.info("failed: %s" if failed else "failed, but the lease was lost: %s", error)

    async def _complete(self, job: RunningJob, outcome: Outcome) -> None:
        if job.kind not in CHILD_KINDS:  # an in-loop kind makes no files: completed in a batch
            state = await self._completer.complete(job.id, job.token)
            if state == "lost":
                job.log.warning("lease lost before completion: the result is discarded")
            else:
                job.log.info(state)
            return
        video = outcome.video()
        data_dir = self.settings.data_dir
        result_path = None if video is None else video.relative_to(data_dir.resolve()).as_posix()
        try:
            save = await self._stored_artifacts(job, outcome)
        except StorageError as exc:
            await self._fail_or_retry(job, str(exc), {"retryable": True, "stage": "store"})
            return
        store = self.settings.object_store

        async def complete(db: Repositories) -> str:
            # In the completion's transaction: a job whose cancel came late never completes.
            if await db.leases.cancel_requested_ids([job.id]):
                return "cancelled" if await db.leases.mark_cancelled(job.id, job.token) else "lost"
            await save(db)
            if not await db.leases.mark_completed(job.id, job.token, result_path=result_path):
                raise LeaseLost  # rolls the artifact rows back with it
            # A scene's preview is no video of the subject's: its clips stay free for the next.
            is_video = job.kind == VIDEO
            owner = await footage_owner(db, job.payload) if outcome.clips and is_video else None
            if owner is not None:
                await db.footage.record(job.id, outcome.clips, subject=owner[0], account=owner[1])
            if is_video:
                await self._queue_publish(db, job, qa_passed=outcome.qa_passed)
            return "completed"

        try:
            state = await self._db(complete)
        except LeaseLost:
            state = "lost"
        if state == "lost":
            job.log.warning("lease lost before completion: the result is discarded")
            return
        job.log.info("%s: %s", state, result_path or "no files")
        if store is not None and state == "completed":  # the bucket has it: nothing resumes
            await asyncio.to_thread(remove_folders, [self._stages_dir(job.id)])
            with contextlib.suppress(StorageError):  # else retention deletes them with the job
                await store.delete_prefix(stages_prefix(job.id))

    async def _await_review(
        self, job: RunningJob, outcome: Outcome, storyboard: dict[str, Any]
    ) -> None:
        """The job planned: its storyboard and the files beside it (the voice) are kept, and it
        waits for a person. A cancel asked meanwhile ends it instead."""
        try:
            save = await self._stored_artifacts(job, outcome)
        except StorageError as exc:
            await self._fail_or_retry(job, str(exc), {"retryable": True, "stage": "store"})
            return

        async def wait(db: Repositories) -> str:
            await save(db)
            if await db.leases.await_review(job.id, job.token, storyboard=storyboard):
                return "awaiting review"
            # Not moved: a cancel was asked (the job ends cancelled), or the lease was lost.
            if await db.leases.cancel_requested_ids([job.id]):
                return "cancelled" if await db.leases.mark_cancelled(job.id, job.token) else "lost"
            raise LeaseLost  # rolls the artifact rows back with it

        try:
            state = await self._db(wait)
        except LeaseLost:
            state = "lost"
        job.log.info(state if state != "lost" else "lease lost before the review")

    async def _stored_artifacts(
        self, job: RunningJob, outcome: Outcome
    ) -> Callable[[Repositories], Awaitable[None]]:
        """The outputs the child listed, copied to the bucket when there is one (StorageError when
        a copy fails); returns what records them, in the caller's transaction."""
        data_dir = self.settings.data_dir
        artifacts = outcome.artifacts(data_dir)
        store = self.settings.object_store
        stored = None
        if store is not None:
            stored = await store_outputs(store, artifacts, data_dir=data_dir)
            job.log.info(stored.describe(store))

        async def save(db: Repositories) -> None:
            for artifact in artifacts:
                await db.artifacts.add(job.id, **artifact)
                name, size = Path(artifact["path"]).name, artifact["size_bytes"]
                await db.events.add(
                    job.id,
                    EventType.ARTIFACT,
                    f"Saved {artifact['kind']}: {name} ({size:,} bytes).",
                    payload={"kind": artifact["kind"], "path": artifact["path"], "bytes": size},
                )
            if stored is not None and store is not None:
                payload = {"store": store.url, "bytes": stored.size_bytes, "s": stored.elapsed_s}
                await db.events.add(job.id, EventType.LOG, stored.describe(store), payload=payload)

        return save

    async def _queue_publish(self, db: Repositories, job: RunningJob, *, qa_passed: bool) -> None:
        """A video asked to be published (`automateYoutubeUpload`, `publish`): its publish job,
        queued in the video's completion (it fails, visibly, when no account can take it). A
        video that failed a check waits for a person, unless the request said `publishAnyway`."""
        options = job.payload.get("publish")
        if not job.payload.get("automateYoutubeUpload") and options is None:
            return
        options = options or {}
        if not qa_passed and not options.get("publishAnyway"):
            await db.events.add(
                job.id,
                EventType.LOG,
                "Not published: a check of the video failed (see its qa file). Publish it with "
                f"POST /api/jobs/{job.id}/publish, or ask for publish.publishAnyway.",
                level=EventLevel.WARNING,
            )
            return
        account, problem = await db.accounts.pick(options.get("accountId"))
        publish_id = await db.publications.queue(
            job.id,
            options,
            subject=job.payload.get("videoSubject"),
            account_id=account.id if account is not None else None,
            problem=problem,
            max_attempts=self.settings.max_attempts,
        )
        await db.events.add(
            job.id,
            EventType.LOG,
            f"Publishing to YouTube as job {publish_id}.",
            payload={"publishJobId": publish_id},
        )

    # -- background loops --------------------------------------------------------------------

    async def _every(self, interval_s: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` every `interval_s`. A failure is logged and the loop goes on: a heartbeat
        that stopped for good would let the reapers take back jobs that are still running."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await action()
            except Exception as exc:
                if isinstance(exc, DatabaseUnavailable) or is_transient_error(exc):
                    logger.warning("worker %s: %s failed: %s", self.worker_id, action.__name__, exc)
                else:
                    logger.exception("worker %s: %s failed", self.worker_id, action.__name__)

    async def _heartbeat(self) -> None:
        """Renew every running job's lease in one statement; a job not renewed was lost."""
        leases = {job.id: job.token for job in self._running.values() if not job.finishing}

        async def beat(db: Repositories) -> set[str]:
            renewed = await db.leases.renew(
                worker_id=self.worker_id, leases=leases, lease_s=self.settings.lease_s
            )
            await db.workers.touch(self.worker_id, busy=self._busy_slots())
            # Every worker reaps: the statement is safe to run concurrently.
            for reaped in await db.leases.reap_expired():
                logger.warning(
                    "worker %s: took back job %s from an expired lease (now %s)",
                    self.worker_id, reaped.id, reaped.status,
                )  # fmt: skip
            return renewed

        renewed = await self._db(beat)
        for job_id in leases.keys() - renewed:
            job = self._running.get(job_id)
            # A job that finished since the snapshot was not renewed either: not a loss.
            if job is not None and not job.finishing:
                job.log.warning("lease lost: killing the child process")
                job.stop("lost")

    async def _check_cancels(self) -> None:
        watched = [job.id for job in self._running.values() if job.stop_reason is None]
        if not watched:
            return
        requested = await self._db(lambda db: db.leases.cancel_requested_ids(watched))
        for job_id in requested:
            job = self._running.get(job_id)
            if job is not None and job.stop_reason is None:
                job.log.info("cancellation requested: killing the child process")
                job.stop("cancel")

    async def _prune(self) -> None:
        """The host's cache to its size; then retention: delete finished jobs past the retention
        age. Every worker prunes; the batches lock with SKIP LOCKED, so workers pruning at once
        share the work."""
        await prune_cache(self.settings)
        if self.settings.retention_days > 0:
            await prune_expired(self.sessionmaker, self.settings)

    async def _stop_sending(self, sender: asyncio.Task[None]) -> None:
        """Let the webhook round in flight finish, so its outcomes are recorded rather than
        sent again later; a round that overruns its timeout is cancelled."""
        assert self._webhooks is not None
        self._webhooks.stop()
        grace_s = 0.0 if self._stop_now.is_set() else self.settings.webhook_timeout_s + 5
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sender), grace_s)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)

    async def _wind_down(self) -> None:
        """Give running jobs the grace period (none when stopping now), then kill and release."""
        if self._tasks and not self._stop_now.is_set():
            grace_s = self.settings.shutdown_grace_s
            logger.info(
                "worker %s: waiting up to %.0f s for %d running job(s)",
                self.worker_id,
                grace_s,
                len(self._tasks),
            )
            all_done = asyncio.ensure_future(asyncio.wait(set(self._tasks)))
            stop_now = asyncio.ensure_future(self._stop_now.wait())
            await asyncio.wait(
                {all_done, stop_now}, timeout=grace_s, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in (all_done, stop_now):
                waiter.cancel()
        for job in list(self._running.values()):
            job.stop("shutdown")
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- database ----------------------------------------------------------------------------

    async def _db(
        self, operation: Callable[[Repositories], Awaitable[T]], *, one_statement: bool = False
    ) -> T:
        """Run `operation` in its own short transaction, retrying transient errors with backoff;
        DatabaseUnavailable when they persist. Any other error is raised as it is.

        `one_statement`: the operation is a single statement on Postgres (the claim), sent
        without BEGIN and COMMIT there, since a statement is a transaction of its own."""
        for attempt in range(1, DB_ATTEMPTS + 1):
            try:
                return await self._transaction(operation, one_statement=one_statement)
            except Exception as exc:
                if not is_transient_error(exc):
                    raise
                if attempt == DB_ATTEMPTS:
                    raise DatabaseUnavailable(str(exc)) from exc
                delay_s = retry_delay_s(attempt, base_s=DB_BACKOFF_BASE_S, cap_s=DB_BACKOFF_CAP_S)
                logger.warning(
                    "worker %s: database error (attempt %d of %d), retrying: %s",
                    self.worker_id,
                    attempt,
                    DB_ATTEMPTS,
                    exc,
                )
                await asyncio.sleep(delay_s)
        raise AssertionError("unreachable")

    async def _transaction(
        self, operation: Callable[[Repositories], Awaitable[T]], *, one_statement: bool
    ) -> T:
        async with self.sessionmaker() as session:
            if one_statement and autocommits_one_statement(session.get_bind()):
                # Two round trips fewer on the worker's busiest path.
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                return await operation(Repositories(session))
            async with session.begin():
                return await operation(Repositories(session))


def uploads_owner(job: RunningJob) -> str:
    """The job whose uploaded clips this one renders: a preview's reviewed job, else its own."""
    return str(job.payload.get("previewOf") or job.id)


async def footage_owner(db: Repositories, payload: dict[str, Any]) -> tuple[str, str | None] | None:
    """The subject and the YouTube account (the one its publish goes to, as `youtube:<id>`) a
    video's footage is remembered under; None for a spec the child will refuse anyway."""
    try:
        spec = VideoSpec.model_validate(payload)
    except ValidationError:
        return None
    account = None
    if spec.publish is not None:
        picked, _why = await db.accounts.pick(spec.publish.account_id)
        account = None if picked is None else f"youtube:{picked.id}"
    return spec.video_subject, account
