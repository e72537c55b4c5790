"""Following jobs cheaply: one reader per followed job per API process, fanned out in memory.

Each event stream used to poll the database on its own, so a thousand clients following one job
cost a thousand queries every poll interval. Now the first follower of a job starts a `JobFeed`,
whose single reader polls the job's state and new events once per interval and keeps the recent
events, rendered once as server-sent-event frames; every follower of that job in this process
reads them from memory. The database sees one reader per followed job, however many follow it.

A follower that asks for events older than what the feed holds (a late joiner resuming from the
start of a long job) reads that part from the database once, page by page, and then follows the
feed. The feed stops when its last follower leaves, or once the job has ended and every follower
has had the end.

Open streams are capped per process (`MONEYPRINTER_MAX_EVENT_STREAMS`): past the cap a new stream
gets 503 with Retry-After, so followers cannot take every request slot of the HTTP server.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import GenerationEvent
from app.db.repositories import EventRepository, JobRepository
from app.domain import JobStatus
from app.errors import ServiceUnavailable
from app.schemas import EventRead

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
PAGE_LIMIT = 500
# Events a feed keeps (up to twice as many between trims) for followers that join or fall
# behind; older ones are read from the database.
FEED_EVENTS = 2000
STREAMS_RETRY_AFTER_S = 5


class TooManyStreams(ServiceUnavailable):
    def __init__(self, *, limit: int) -> None:
        super().__init__(
            f"Too many event streams open ({limit:,}, the server's limit); try again in "
            f"{STREAMS_RETRY_AFTER_S} s, or poll GET /api/jobs/{{id}}/events."
        )
        self.headers = {"Retry-After": str(STREAMS_RETRY_AFTER_S)}


@dataclass(frozen=True, slots=True)
class Frame:
    """One event as its stream frame, rendered once for every follower."""

    event_id: int
    text: str


def event_frame(event: GenerationEvent) -> Frame:
    data = EventRead.model_validate(event).model_dump_json(by_alias=True)
    return Frame(event.id, f"id: {event.id}\nevent: {event.event_type}\ndata: {data}\n\n")


def end_frame(state: str) -> str:
    return f"event: end\ndata: {json.dumps({'state': state})}\n\n"


class JobFeed:
    """A job's recent event frames and whether it has ended, kept up to date by one reader.

    `covered_after` is the id after which the feed holds every event of the job; a follower
    whose position is lower reads the gap from the database."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._ids: list[int] = []
        self._texts: list[str] = []
        # What `since` answered for each position, until the next publish: followers mostly
        # stand at the same position, so a thousand of them cost one join.
        self._since: dict[int, tuple[str, int]] = {}
        # Event ids are global, so a feed starts from the job's first event, never from a
        # follower's position: a later event of this job may have any id above the job's last.
        self.covered_after = 0
        self.last_id = 0
        self.ended: str | None = None  # the final state ("deleted" if the job went away)
        self.broken = False  # the reader failed: streams close without an end, clients resume
        self.followers = 0
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """Set at the next change: take it before reading, then wait on it."""
        return self._changed

    def since(self, position: int) -> tuple[str, int]:
        """The frames after event `position` as one chunk, and the id of the last of them
        (`position` when there are none)."""
        answer = self._since.get(position)
        if answer is None:
            start = bisect.bisect_right(self._ids, position)
            last = self._ids[-1] if start < len(self._ids) else position
            answer = self._since[position] = ("".join(self._texts[start:]), last)
        return answer

    def publish(self, frames: Sequence[Frame], *, ended: str | None) -> None:
        self._ids.extend(frame.event_id for frame in frames)
        self._texts.extend(frame.text for frame in frames)
        if len(self._ids) > 2 * FEED_EVENTS:  # trimmed in batches: a list's front is costly
            dropped = len(self._ids) - FEED_EVENTS
            self.covered_after = self._ids[dropped - 1]
            del self._ids[:dropped], self._texts[:dropped]
        if frames:
            self.last_id = frames[-1].event_id
        self._since.clear()
        self.ended = ended
        self._wake()

    def break_off(self) -> None:
        self.broken = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class Followers:
    """Every `JobFeed` of this process, the reader task of each, and the count of open streams."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        poll_s: float,
        max_streams: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._poll_s = poll_s
        self.max_streams = max_streams
        self.open_streams = 0
        self._feeds: dict[str, JobFeed] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}

    def check_capacity(self) -> None:
        """TooManyStreams when `max_streams` streams are open in this process."""
        if self.open_streams >= self.max_streams:
            raise TooManyStreams(limit=self.max_streams)

    async def stream(self, job_id: str, *, after: int) -> AsyncIterator[str]:
        """The frames of `job_id` after event `after`, keepalives while it is quiet, and the end
        frame once the job has ended and every event has been sent."""
        self.open_streams += 1
        feed = self._join(job_id)
        try:
            position = after
            while not feed.broken:
                changed = feed.changed()
                if position < feed.covered_after:
                    gap = await self._read_gap(job_id, after=position, upto=feed)
                    if gap:
                        yield "".join(frame.text for frame in gap)
                    # Empty only if the job's events were deleted with it.
                    position = gap[-1].event_id if gap else feed.covered_after
                    continue
                # One write for all that is new: the fan-out to every follower is one send each
                # per poll, not one per event.
                chunk, position = feed.since(position)
                if feed.ended is not None and position >= feed.last_id:
                    yield chunk + end_frame(feed.ended)
                    return
                if chunk:
                    yield chunk
                try:
                    async with asyncio.timeout(KEEPALIVE_S):  # no task per wait, as wait_for
                        await changed.wait()
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            self.open_streams -= 1
            self._leave(feed)

    async def aclose(self) -> None:
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        self._readers.clear()
        self._feeds.clear()

    def _join(self, job_id: str) -> JobFeed:
        feed = self._feeds.get(job_id)
        if feed is None:
            feed = self._feeds[job_id] = JobFeed(job_id)
            self._readers[job_id] = asyncio.create_task(self._read(feed), name=f"feed {job_id}")
        feed.followers += 1
        return feed

    def _leave(self, feed: JobFeed) -> None:
        feed.followers -= 1
        if feed.followers == 0 and self._feeds.get(feed.job_id) is feed:
            del self._feeds[feed.job_id]
            reader = self._readers.pop(feed.job_id)
            if not reader.done():
                reader.cancel()

    async def _read(self, feed: JobFeed) -> None:
        """The feed's one reader: the job's state, then its new events, every poll interval,
        until the job has settled (ended, or awaits review) and its last event has been read."""
        try:
            while feed.ended is None:
                async with self._sessionmaker() as session:
                    # The state first, then the events: the final state and its event commit
                    # together, so once the state reads final, the events read next include it.
                    job = await JobRepository(session).get(feed.job_id)
                    events = await EventRepository(session).list_after(
                        feed.job_id, after=feed.last_id, limit=PAGE_LIMIT
                    )
                ended: str | None = None
                if job is None:
                    ended = "deleted"
                elif JobStatus(job.status).is_settled and len(events) < PAGE_LIMIT:
                    ended = job.status
                if events or ended is not None:
                    feed.publish([event_frame(event) for event in events], ended=ended)
                if len(events) < PAGE_LIMIT and ended is None:
                    await asyncio.sleep(self._poll_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Followers see their stream close with no end: EventSource (and our client)
            # reconnect with Last-Event-ID, to a feed of their own.
            logger.exception("reading the events of job %s failed", feed.job_id)
            feed.break_off()
        finally:
            if self._feeds.get(feed.job_id) is feed and (feed.ended or feed.broken):
                # Ended: later followers start a feed of their own (and get the end at once).
                del self._feeds[feed.job_id]
                self._readers.pop(feed.job_id, None)

    async def _read_gap(self, job_id: str, *, after: int, upto: JobFeed) -> list[Frame]:
        """One page of the events between `after` and what the feed holds (empty only when the
        job has been deleted since: the event `covered_after` names was in the feed)."""
        async with self._sessionmaker() as session:
            events = await EventRepository(session).list_after(
                job_id, after=after, limit=PAGE_LIMIT
            )
        return [event_frame(event) for event in events if event.id <= upto.covered_after]
