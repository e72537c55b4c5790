"""A batch's Idempotency-Key: a repeated POST /api/batches returns the first batch.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_batches_idempotency_key"), "batches", ["idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_batches_idempotency_key"), table_name="batches")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("idempotency_key")
