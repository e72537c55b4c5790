"""Where each artifact's bytes are: the data folder (empty) or a bucket (`s3://bucket/prefix`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as table:
        table.add_column(sa.Column("store", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as table:
        table.drop_column("store")
