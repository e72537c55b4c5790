"""Jobs get a kind (what the worker runs) and claimed_at (when the current attempt was claimed).

`kind` lets the worker run jobs other than videos: `noop`, which finishes in the worker's event
loop, is what the queue benchmark drains. `claimed_at` with `run_at` gives the pickup latency of
the latest attempt, and with `completed_at` its run time; both feed the metrics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generation_jobs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=32), server_default="video", nullable=False)
        )
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("generation_jobs") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("kind")
