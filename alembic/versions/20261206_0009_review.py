"""Review before render: the `awaiting_review` state and the job's storyboard.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
AFTER = "status IN ('queued', 'running', 'awaiting_review', 'completed', 'failed', 'cancelled')"


def upgrade() -> None:
    _status_check(AFTER)
    op.add_column("generation_jobs", sa.Column("storyboard", JSON, nullable=True))


def downgrade() -> None:
    op.execute("UPDATE generation_jobs SET status = 'cancelled' WHERE status = 'awaiting_review'")
    with op.batch_alter_table("generation_jobs") as batch:
        batch.drop_column("storyboard")
    _status_check(BEFORE)


def _status_check(condition: str) -> None:
    """Replace the status CHECK: an ALTER on Postgres. SQLite cannot alter one, so the table is
    copied with the new CHECK; the copy's claim index comes back without its DESC, so it is made
    again as the first revision made it."""
    with op.batch_alter_table("generation_jobs") as batch:
        batch.drop_constraint(op.f("ck_generation_jobs_status"), type_="check")
        batch.create_check_constraint("status", condition)
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_generation_jobs_ready", table_name="generation_jobs")
        op.create_index(
            "ix_generation_jobs_ready",
            "generation_jobs",
            [sa.text("priority DESC"), "run_at", "id"],
            sqlite_where=sa.text("status = 'queued'"),
        )
