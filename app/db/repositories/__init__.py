"""One repository per concern, all on the caller's session: jobs as the API changes them,
batches, the worker's leases, events, artifacts, workers, projects, webhook deliveries, YouTube
accounts, publications, the footage videos used, and the queue's metrics. The statements they
run are in `app/db/statements.py`."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.accounts import AccountRepository
from app.db.repositories.artifacts import ArtifactRepository
from app.db.repositories.batches import BatchRepository
from app.db.repositories.events import EventRepository
from app.db.repositories.footage import FootageUseRepository
from app.db.repositories.jobs import JobRepository
from app.db.repositories.leases import LeaseRepository
from app.db.repositories.metrics import MetricsRepository
from app.db.repositories.projects import ProjectRepository
from app.db.repositories.publications import PublicationRepository
from app.db.repositories.webhooks import WebhookRepository
from app.db.repositories.workers import WorkerRepository


class Repositories:
    """The repositories of one transaction, on its session (the worker's unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self.jobs = JobRepository(session)
        self.batches = BatchRepository(session)
        self.leases = LeaseRepository(session)
        self.events = EventRepository(session)
        self.artifacts = ArtifactRepository(session)
        self.workers = WorkerRepository(session)
        self.webhooks = WebhookRepository(session)
        self.accounts = AccountRepository(session)
        self.publications = PublicationRepository(session)
        self.footage = FootageUseRepository(session)


__all__ = [
    "AccountRepository",
    "ArtifactRepository",
    "BatchRepository",
    "EventRepository",
    "FootageUseRepository",
    "JobRepository",
    "LeaseRepository",
    "MetricsRepository",
    "ProjectRepository",
    "PublicationRepository",
    "Repositories",
    "WebhookRepository",
    "WorkerRepository",
]
