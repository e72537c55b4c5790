"""A job's events: the append-only log that clients follow (`after=` the last id they saw)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select

from app.db.models import GenerationEvent, utcnow
from app.db.repositories.base import Repository
from app.db.statements import events_table
from app.domain import EventLevel, EventType


class EventRepository(Repository):
    async def add(
        self,
        job_id: str,
        event_type: EventType,
        message: str,
        *,
        level: EventLevel = EventLevel.INFO,
        payload: dict[str, Any] | None = None,
    ) -> GenerationEvent:
        event = GenerationEvent(
            job_id=job_id,
            event_type=event_type.value,
            level=level.value,
            message=message,
            payload=payload,
            created_at=utcnow(),
        )
        self.session.add(event)
        await self.session.flush()
        return event

    async def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Many events in one statement (no ORM objects): the queue's hot paths."""
        values = list(rows)
        if values:
            await self.session.execute(insert(events_table()), values)

    async def list_after(
        self, job_id: str, *, after: int = 0, limit: int = 500
    ) -> Sequence[GenerationEvent]:
        """Events of a job with an id greater than `after`, oldest first."""
        return (
            await self.session.scalars(
                select(GenerationEvent)
                .where(GenerationEvent.job_id == job_id, GenerationEvent.id > after)
                .order_by(GenerationEvent.id)
                .limit(limit)
            )
        ).all()
