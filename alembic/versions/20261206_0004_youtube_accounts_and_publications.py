"""YouTube accounts (sealed OAuth secrets) and publications (a publish job's upload state).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "youtube_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("channel_title", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=False),
        sa.Column("token_uri", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('connected', 'disconnected')", name=op.f("ck_youtube_accounts_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_youtube_accounts")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_youtube_accounts_channel_id")),
    )
    op.create_table(
        "publications",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("video_job_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("upload_uri", sa.Text(), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_acknowledged", sa.BigInteger(), nullable=False),
        sa.Column("video_sha256", sa.String(length=64), nullable=True),
        sa.Column("youtube_video_id", sa.String(length=32), nullable=True),
        sa.Column("thumbnail_set", sa.Boolean(), nullable=False),
        sa.Column("playlist_done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["youtube_accounts.id"],
            name=op.f("fk_publications_account_id_youtube_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_publications_job_id_generation_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_job_id"],
            ["generation_jobs.id"],
            name=op.f("fk_publications_video_job_id_generation_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_publications")),
    )
    op.create_index(
        op.f("ix_publications_video_job_id"), "publications", ["video_job_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("publications")
    op.drop_table("youtube_accounts")
