"""The footage completed videos used: recorded at completion, read before the next render of
the same subject or account so it picks other clips."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from app.db.models import FootageUse, utcnow
from app.db.repositories.base import Repository


def subject_key(subject: str) -> str:
    """Subjects that differ in case or spacing only are one subject."""
    return " ".join(subject.lower().split())[:200]


class FootageUseRepository(Repository):
    async def record(
        self, job_id: str, clips: Iterable[str], *, subject: str, account: str | None
    ) -> None:
        now = utcnow()
        key = subject_key(subject)
        self.session.add_all(
            FootageUse(job_id=job_id, clip=clip, subject=key, account=account, used_at=now)
            for clip in dict.fromkeys(clips)
        )
        await self.session.flush()

    async def recent(self, *, subject: str, account: str | None, videos: int) -> set[str]:
        """The clips of the last `videos` videos of the subject, and of the account."""
        if videos < 1:
            return set()
        found: set[str] = set()
        for column, value in (
            (FootageUse.subject, subject_key(subject)), (FootageUse.account, account)
        ):  # fmt: skip
            if value is None:
                continue
            latest = (
                select(FootageUse.job_id)
                .where(column == value)
                .group_by(FootageUse.job_id)
                .order_by(func.max(FootageUse.used_at).desc(), FootageUse.job_id)
                .limit(videos)
            )
            clips = await self.session.scalars(
                select(FootageUse.clip).where(FootageUse.job_id.in_(latest.scalar_subquery()))
            )
            found.update(clips)
        return found
