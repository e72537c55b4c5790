"""Alembic owns the schema: the migrated database equals the models, and down/up round-trips."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app.db.migrations import downgrade_to_base, upgrade_to_head
from app.db.models import Base
from app.db.session import create_engine

TABLES = {"projects", "generation_jobs", "generation_events", "artifacts", "workers"}
# SQLite cannot reflect an index on an expression (`priority DESC`), so Alembic reports the claim
# index as different on every run; its existence is checked with sqlite_master instead.
SQLITE_UNREFLECTABLE_INDEX = "ix_generation_jobs_ready"


def _drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = compare_metadata(context, Base.metadata)
    if connection.dialect.name == "sqlite":
        differences = [
            diff
            for diff in differences
            if not (
                isinstance(diff, tuple)
                and diff[0] in ("add_index", "remove_index")
                and diff[1].name == SQLITE_UNREFLECTABLE_INDEX
            )
        ]
    return differences


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _run(database_url: str, check: Any) -> Any:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(check)
    finally:
        await engine.dispose()


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    assert asyncio.run(_run(database_url, _drift)) == []
    assert asyncio.run(_run(database_url, _tables)) == TABLES


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    downgrade_to_base(database_url)
    assert asyncio.run(_run(database_url, _tables)) == set()

    upgrade_to_head(database_url)
    assert asyncio.run(_run(database_url, _tables)) == TABLES
    assert asyncio.run(_run(database_url, _drift)) == []


def test_claim_index_is_partial_on_the_ready_queue(database_url: str) -> None:
    def index_sql(connection: Connection) -> str:
        if connection.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE name = :name"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        return str(connection.execute(text(query), {"name": SQLITE_UNREFLECTABLE_INDEX}).scalar())

    sql = asyncio.run(_run(database_url, index_sql)).lower()

    assert "priority desc" in sql
    assert "where" in sql and "status" in sql and "'queued'" in sql


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}"

    def pragmas(connection: Connection) -> tuple[str, int, int]:
        return (
            connection.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
            connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
            connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one(),
        )

    journal_mode, busy_timeout_ms, foreign_keys = asyncio.run(_run(url, pragmas))

    assert journal_mode == "wal"
    assert busy_timeout_ms >= 1000
    assert foreign_keys == 1
