"""Batches: jobs queued together, and each job's batch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index(op.f("ix_batches_created_at"), "batches", ["created_at"])
    # A plain column (no foreign key): SQLite adds it without rebuilding the table.
    op.add_column("generation_jobs", sa.Column("batch_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_generation_jobs_batch_id"), "generation_jobs", ["batch_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_generation_jobs_batch_id"), table_name="generation_jobs")
    with op.batch_alter_table("generation_jobs") as batch:
        batch.drop_column("batch_id")
    op.drop_table("batches")
