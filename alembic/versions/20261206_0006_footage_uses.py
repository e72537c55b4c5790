"""The clips each completed video used, so the next videos of a subject or account differ.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "footage_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("clip", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_footage_uses_job_id_generation_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footage_uses")),
    )
    op.create_index(op.f("ix_footage_uses_job_id"), "footage_uses", ["job_id"])
    op.create_index(op.f("ix_footage_uses_subject"), "footage_uses", ["subject", "used_at"])
    op.create_index(op.f("ix_footage_uses_account"), "footage_uses", ["account", "used_at"])


def downgrade() -> None:
    op.drop_table("footage_uses")
