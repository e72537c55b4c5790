"""The claim statement as each dialect compiles it (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite

from app.db.repository import claim_statement

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def compiled(dialect_name: str) -> str:
    dialect = postgresql.dialect() if dialect_name == "postgresql" else sqlite.dialect()
    statement = claim_statement(dialect_name, worker_id="w", limit=4, now=NOW, lease_s=30)
    return " ".join(str(statement.compile(dialect=dialect)).split())


def test_postgres_claim_locks_and_skips_in_one_materialized_cte() -> None:
    sql = compiled("postgresql")

    assert sql.startswith("WITH picked AS MATERIALIZED (SELECT")
    assert "FOR UPDATE SKIP LOCKED" in sql
    assert (
        "ORDER BY generation_jobs.priority DESC, generation_jobs.run_at, generation_jobs.id" in sql
    )
    assert "LIMIT" in sql
    assert "FROM picked WHERE generation_jobs.id = picked.id" in sql
    assert "gen_random_uuid()" in sql
    assert "RETURNING" in sql


def test_sqlite_claim_is_one_update_with_a_limited_subquery() -> None:
    sql = compiled("sqlite")

    assert sql.startswith("UPDATE generation_jobs SET")
    assert "WHERE generation_jobs.id IN (SELECT generation_jobs.id" in sql
    assert "ORDER BY generation_jobs.priority DESC" in sql
    assert "LIMIT" in sql
    assert "lower(hex(randomblob(?)))" in sql
    assert "RETURNING" in sql
    assert "FOR UPDATE" not in sql
