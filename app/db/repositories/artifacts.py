"""The files a job made: one row each, with its size, checksum, type and media facts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from app.db.models import Artifact, utcnow
from app.db.repositories.base import Repository, rowcount


class ArtifactRepository(Repository):
    async def add(
        self,
        job_id: str,
        *,
        kind: str,
        path: str,
        size_bytes: int,
        sha256: str,
        mime: str,
        media: dict[str, Any] | None = None,
        store: str = "",
    ) -> Artifact:
        artifact = Artifact(
            job_id=job_id,
            kind=kind,
            path=path,
            bytes=size_bytes,
            sha256=sha256,
            mime=mime,
            media=media,
            store=store,
            created_at=utcnow(),
        )
        self.session.add(artifact)
        await self.session.flush()
        return artifact

    async def get(self, job_id: str, artifact_id: int) -> Artifact | None:
        return await self.session.scalar(
            select(Artifact).where(Artifact.job_id == job_id, Artifact.id == artifact_id)
        )

    async def latest(self, job_id: str, kind: str) -> Artifact | None:
        return await self.session.scalar(
            select(Artifact)
            .where(Artifact.job_id == job_id, Artifact.kind == kind)
            .order_by(Artifact.id.desc())
            .limit(1)
        )

    async def list_for_job(self, job_id: str) -> Sequence[Artifact]:
        return (
            await self.session.scalars(
                select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.id)
            )
        ).all()

    async def in_data_folder(self, *, after_id: int, limit: int) -> Sequence[Artifact]:
        """Artifacts whose file is in the data folder, by id from `after_id` on (`storage copy`)."""
        return (
            await self.session.scalars(
                select(Artifact)
                .where(Artifact.store == "", Artifact.id > after_id)
                .order_by(Artifact.id)
                .limit(limit)
            )
        ).all()

    async def point_at(self, artifact_id: int, store: str) -> bool:
        """Record that the artifact's file is now in `store`; False if it was somewhere else."""
        result = await self.session.execute(
            update(Artifact)
            .where(Artifact.id == artifact_id, Artifact.store == "")
            .values(store=store)
        )
        return rowcount(result) == 1
