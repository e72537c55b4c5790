"""The workers table: who is running, with how many slots, and when each last beat."""

from __future__ import annotations

from sqlalchemy import delete, update

from app.db.models import WorkerRecord, utcnow
from app.db.repositories.base import Repository


class WorkerRepository(Repository):
    async def register(self, worker_id: str, *, slots: int, version: str) -> None:
        now = utcnow()
        self.session.add(
            WorkerRecord(
                id=worker_id, started_at=now, heartbeat_at=now, slots=slots, busy=0, version=version
            )
        )
        await self.session.flush()

    async def touch(self, worker_id: str, *, busy: int) -> None:
        await self.session.execute(
            update(WorkerRecord)
            .where(WorkerRecord.id == worker_id)
            .values(heartbeat_at=utcnow(), busy=busy)
        )

    async def remove(self, worker_id: str) -> None:
        await self.session.execute(delete(WorkerRecord).where(WorkerRecord.id == worker_id))
