"""Projects: an optional name that groups jobs."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import Project
from app.db.repositories.base import Repository


class ProjectRepository(Repository):
    async def exists(self, project_id: int) -> bool:
        found = await self.session.scalar(select(Project.id).where(Project.id == project_id))
        return found is not None
