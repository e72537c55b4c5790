"""Alembic, called from code: bring a database to the newest schema (the CLI and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(database_url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Run every pending migration. Synchronous: Alembic's env.py runs its own event loop."""
    command.upgrade(alembic_config(database_url), "head")


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
