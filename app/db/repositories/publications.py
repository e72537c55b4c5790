"""Publications: where each publish job's upload stands with YouTube.

The worker's writes are fenced like a job's: they change nothing once the publish job's lease
was lost (another worker may be resuming the same upload by then).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select, update

from app.db.models import Publication, utcnow
from app.db.repositories.base import Repository, rowcount
from app.db.repositories.jobs import JobRepository
from app.db.statements import holds_lease, new_job_row
from app.domain import PUBLISH_KIND


class PublicationRepository(Repository):
    async def queue(
        self,
        video_job_id: str,
        options: dict[str, Any],
        *,
        subject: str | None,
        account_id: int | None,
        problem: str | None = None,
        max_attempts: int = 3,
    ) -> str:
        """Queue a publish job for a completed video job, with its publication; returns its id.
        It carries the video's `subject`, so that lists name it. `problem`: why there is no
        account (the job then fails with it, where a user sees it)."""
        payload = {
            "videoJobId": video_job_id,
            "videoSubject": subject,
            "accountId": account_id,
            "options": options,
        }
        if problem:
            payload["problem"] = problem
        row = new_job_row(payload=payload, kind=PUBLISH_KIND, max_attempts=max_attempts)
        await JobRepository(self.session).enqueue([row])
        self.session.add(
            Publication(job_id=row["id"], video_job_id=video_job_id, account_id=account_id)
        )
        await self.session.flush()
        return str(row["id"])

    async def get(self, job_id: str) -> Publication | None:
        return await self.session.get(Publication, job_id, populate_existing=True)

    async def for_video(self, video_job_id: str) -> Sequence[Publication]:
        return (
            await self.session.scalars(
                select(Publication)
                .where(Publication.video_job_id == video_job_id)
                .order_by(Publication.created_at)
            )
        ).all()

    async def published_for(self, video_job_id: str, account_id: int) -> Publication | None:
        """This video's upload to this account that produced a YouTube video, if any."""
        return await self.session.scalar(
            select(Publication).where(
                Publication.video_job_id == video_job_id,
                Publication.account_id == account_id,
                Publication.youtube_video_id.is_not(None),
            )
        )

    async def update(self, job_id: str, token: str, **values: Any) -> bool:
        """Change the publication while the publish job's claim holds its lease."""
        result = await self.session.execute(
            update(Publication)
            .where(Publication.job_id == job_id, exists().where(holds_lease(job_id, token)))
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1
