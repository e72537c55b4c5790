"""Migrations on both databases: they build exactly the models' schema (no drift), they round-trip
down to nothing and back, and SQLite connections get the settings docs/architecture.md ("Data")
promises."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from alembic import command
from app.db.migrations import alembic_config, downgrade_to_base, upgrade_to_head
from app.db.models import Base
from app.db.session import SQLITE_BUSY_TIMEOUT_MS, create_engine
from app.db.statements import events_table, jobs_table

TABLES = {
    "projects",
    "generation_jobs",
    "batches",
    "generation_events",
    "artifacts",
    "workers",
    "webhook_deliveries",
    "youtube_accounts",
    "publications",
    "footage_uses",
}
READY_INDEX = "ix_generation_jobs_ready"


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _is_ready_index_misread(diff: Any) -> bool:
    """Alembic reflects SQLite's `priority DESC` index as plain columns, so it reports the claim's
    index as removed and added again although it is the one the model declares. This known false
    positive is filtered; test_the_claim_index_is_partial_and_descending checks that index."""
    return (
        isinstance(diff, tuple)
        and diff[0] in ("add_index", "remove_index")
        and diff[1].name == READY_INDEX
    )


async def schema_drift(database_url: str) -> list[Any]:
    """What autogenerate would write into a new migration: empty when the schema is the models'."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            diffs = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    if engine.dialect.name == "sqlite":
        diffs = [diff for diff in diffs if not _is_ready_index_misread(diff)]
    return diffs


async def table_names(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def test_migrations_build_the_models_schema(database_url: str) -> None:
    assert await table_names(database_url) == TABLES | {"alembic_version"}
    assert await schema_drift(database_url) == []


async def test_the_database_is_at_the_newest_revision(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    assert head is not None
    assert await current_revision(database_url) == head


async def test_the_claim_index_is_partial_and_descending(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                partial = {
                    row.name: row.partial
                    for row in await connection.execute(text("PRAGMA index_list(generation_jobs)"))
                }
                definition = await connection.scalar(
                    text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
                    {"name": READY_INDEX},
                )
                assert partial.get(READY_INDEX) == 1
            else:
                definition = await connection.scalar(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                    {"name": READY_INDEX},
                )
    finally:
        await engine.dispose()

    assert definition is not None, f"{READY_INDEX} is missing"
    assert "(priority DESC, run_at, id)" in definition
    assert "WHERE status = 'queued'" in definition or (
        "WHERE ((status)::text = 'queued'::text)" in definition
    )


async def test_downgrade_removes_every_table_and_upgrade_restores_them(database_url: str) -> None:
    # The migration helpers are synchronous and run their own event loop: off this one.
    await asyncio.to_thread(downgrade_to_base, database_url)

    assert await table_names(database_url) <= {"alembic_version"}
    assert await current_revision(database_url) is None

    await asyncio.to_thread(upgrade_to_head, database_url)

    assert await table_names(database_url) == TABLES | {"alembic_version"}
    assert await schema_drift(database_url) == []


async def test_the_review_migration_keeps_every_jobs_events_and_files(database_url: str) -> None:
    """0009 copies generation_jobs on SQLite to change its CHECK: the rows that refer to a job
    (its events, its files) must survive the copy, both ways."""
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0008")
    engine = create_engine(database_url)
    job = "00000000-0000-4000-8000-000000000001"
    try:
        now = datetime(2026, 12, 6, 12, tzinfo=UTC)
        async with engine.begin() as connection:
            await connection.execute(
                insert(jobs_table()).values(
                    id=job, status="completed", kind="video", payload={}, priority=0,
                    cancel_requested=False, attempt_count=1, max_attempts=3, run_at=now,
                    progress=1.0, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            await connection.execute(
                insert(events_table()).values(
                    job_id=job, event_type="state", level="info", message="Job completed.",
                    created_at=now,
                )
            )  # fmt: skip
        await asyncio.to_thread(upgrade_to_head, database_url)
        await asyncio.to_thread(command.downgrade, config, "0008")
        await asyncio.to_thread(upgrade_to_head, database_url)
        async with engine.connect() as connection:
            events = await connection.scalar(
                text("SELECT count(*) FROM generation_events WHERE job_id = :id"), {"id": job}
            )
    finally:
        await engine.dispose()

    assert events == 1


@pytest.fixture
def sqlite_path(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "moneyprinter.db"
    shutil.copy(sqlite_template, path)
    return path


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{sqlite_path}")
    try:
        async with engine.connect() as connection:
            journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
            busy_timeout_ms = await connection.scalar(text("PRAGMA busy_timeout"))
            foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
            # Enforced, not only switched on: an artifact of a job that does not exist.
            with pytest.raises(IntegrityError, match="FOREIGN KEY"):
                await connection.execute(
                    text(
                        "INSERT INTO artifacts (job_id, kind, path, bytes, sha256, mime, "
                        "created_at) VALUES ('no-such-job', 'video', 'v.mp4', 1, '', "
                        "'video/mp4', '2026-01-01 00:00:00')"
                    )
                )
    finally:
        await engine.dispose()

    assert journal_mode == "wal"
    assert busy_timeout_ms == SQLITE_BUSY_TIMEOUT_MS
    assert foreign_keys == 1


async def test_sqlite_transactions_take_the_write_lock_when_they_begin(sqlite_path: Path) -> None:
    """BEGIN IMMEDIATE: a transaction that has only read already holds the write lock, so a
    read-then-write (the claim) cannot fail half-way with SQLITE_BUSY."""
    engine = create_engine(f"sqlite+aiosqlite:///{sqlite_path}")
    other = sqlite3.connect(sqlite_path, timeout=0, isolation_level=None)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT count(*) FROM generation_jobs"))

            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")

            await connection.rollback()
        other.execute("BEGIN IMMEDIATE")  # free again once the transaction ended
        other.execute("ROLLBACK")
    finally:
        other.close()
        await engine.dispose()
