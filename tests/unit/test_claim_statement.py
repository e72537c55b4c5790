"""The claim statement compiled per dialect (no database): the locking and ordering the queue
promises (docs/architecture.md) are in the SQL each database actually receives."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from app.db.dialect import Dialect as DatabaseDialect
from app.db.statements import claim_params, claim_statement

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FREE_SLOTS = 7
LEASE_S = 30.0
QUEUE_ORDER = "ORDER BY generation_jobs.priority DESC, generation_jobs.run_at, generation_jobs.id"


def compile_claim(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The SQL the database receives, and the values bound to it."""
    values = claim_params(worker_id="host:1:abc", limit=FREE_SLOTS, now=NOW, lease_s=LEASE_S)
    compiled = claim_statement(DatabaseDialect.of(dialect)).compile(dialect=dialect)
    return re.sub(r"\s+", " ", str(compiled)), compiled.construct_params(values)


@pytest.fixture
def postgres_claim() -> tuple[str, dict[str, Any]]:
    return compile_claim(postgresql.dialect())


@pytest.fixture
def sqlite_claim() -> tuple[str, dict[str, Any]]:
    return compile_claim(sqlite.dialect())


def test_postgres_locks_ready_rows_in_a_materialized_cte(
    postgres_claim: tuple[str, dict[str, Any]],
) -> None:
    sql, _ = postgres_claim

    assert sql.startswith("WITH picked AS MATERIALIZED (SELECT generation_jobs.id")
    assert "FOR UPDATE SKIP LOCKED" in sql
    assert "LIMIT" in sql
    assert QUEUE_ORDER in sql
    # The rows are picked and locked inside the CTE, then updated from it.
    assert sql.index("FOR UPDATE SKIP LOCKED") < sql.index("UPDATE generation_jobs SET")
    assert "FROM picked WHERE generation_jobs.id = picked.id" in sql
    assert "RETURNING generation_jobs.id" in sql


def test_sqlite_updates_the_rows_of_a_limited_subquery(
    sqlite_claim: tuple[str, dict[str, Any]],
) -> None:
    sql, _ = sqlite_claim

    assert sql.startswith("UPDATE generation_jobs SET")
    assert "WHERE generation_jobs.id IN (SELECT generation_jobs.id" in sql
    assert "LIMIT" in sql
    assert QUEUE_ORDER in sql
    assert "RETURNING" in sql
    assert "FOR UPDATE" not in sql


@pytest.mark.parametrize("claim", ["postgres_claim", "sqlite_claim"])
def test_claims_only_ready_queued_jobs_up_to_the_free_slots(
    claim: str, request: pytest.FixtureRequest
) -> None:
    sql, params = request.getfixturevalue(claim)

    assert re.search(r"generation_jobs\.status = \S+ AND generation_jobs\.run_at <= ", sql)
    assert "queued" in params.values()
    assert NOW in params.values()
    assert FREE_SLOTS in params.values()


@pytest.mark.parametrize("claim", ["postgres_claim", "sqlite_claim"])
def test_sets_a_fresh_lease_and_counts_the_attempt(
    claim: str, request: pytest.FixtureRequest
) -> None:
    sql, params = request.getfixturevalue(claim)

    assert params["status"] == "running"
    assert params["worker_id"] == "host:1:abc"
    assert params["leased_until"] == NOW + timedelta(seconds=LEASE_S)
    assert "attempt_count=(generation_jobs.attempt_count + " in sql
    # The token is made by the database, one per claimed row, never a shared bound value.
    assert "lease_token" not in params
    assert re.search(r"lease_token=(CAST\(gen_random_uuid\(\)|lower\(hex\(randomblob)", sql)
