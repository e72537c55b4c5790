"""Engine and sessionmaker per dialect: SQLite (one connection, pragmas, `BEGIN IMMEDIATE`), an
asyncpg pool for Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.db.dialect import Dialect
from app.db.repositories.webhooks import WEBHOOK_ENDPOINTS
from app.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# The execution option that marks an engine whose URL is a pooler in transaction mode.
TRANSACTION_POOLER = "moneyprinter_transaction_pooler"
# Postgres errors that mean "the connection or the server went away", not "the statement is bad":
# class 08 (connection exception) and class 57 (operator intervention: shutdown, terminated).
_LOST_CONNECTION = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


def settings_engine(settings: Settings) -> AsyncEngine:
    """The engine the settings describe: its URL, pool size and pooler."""
    return create_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        transaction_pooler=settings.database_pooler == "transaction",
    )


def create_engine(
    url: str, *, pool_size: int = 20, transaction_pooler: bool = False,
    foreign_keys: bool = True,
) -> AsyncEngine:  # fmt: skip
    """An async engine for `url`, set up for its database (docs/architecture.md, "Data"): on
    Postgres, at most `pool_size` connections. `foreign_keys=False`: SQLite's are not enforced
    (migrations: a table copied to alter it is dropped, and with them on, dropping it would
    delete its rows' children by their ON DELETE CASCADE). `transaction_pooler`: `url` is a
    pooler in
    transaction mode (PgBouncer), which hands each transaction to any server connection, so no
    prepared statement may outlive its transaction: asyncpg's and SQLAlchemy's statement caches
    are off and each statement gets a name of its own."""
    parsed = make_url(url)
    if parsed.get_backend_name() == Dialect.SQLITE:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per engine. Every transaction takes the write lock (BEGIN IMMEDIATE), so
        # a second connection could only wait for it in SQLite's busy handler, which sleeps and
        # polls (up to 100 ms a turn); in the pool's queue the next one gets it when it is free.
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
        )
        _configure_sqlite(engine, foreign_keys=foreign_keys)
        return engine
    options: dict[str, Any] = {}
    if transaction_pooler:
        parsed = parsed.update_query_dict({"prepared_statement_cache_size": "0"})
        options["connect_args"] = {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__moneyprinter_{uuid.uuid4().hex}__",
        }
        options["execution_options"] = {TRANSACTION_POOLER: True}
    engine = create_async_engine(parsed, pool_size=pool_size, max_overflow=0, **options)
    _replace_closed_connections(engine)
    return engine


def autocommits_one_statement(engine: Engine | Connection | AsyncEngine) -> bool:
    """Whether one statement may go to `engine` without BEGIN and COMMIT (two round trips
    fewer): its database runs a lone statement as a transaction of its own, and no transaction
    pooler is in between, which would run the statement's prepare and its execution on
    different server connections with no transaction to hold them together."""
    return Dialect.of(engine.dialect).autocommits_one_statement and not (
        engine.get_execution_options().get(TRANSACTION_POOLER, False)
    )


def _replace_closed_connections(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # In place of pool_pre_ping, whose ping costs three round trips per checkout (BEGIN, a
        # query, ROLLBACK). asyncpg marks a connection closed as soon as the server drops it (a
        # restart, pg_terminate_backend, an idle timeout), so such a connection is replaced here
        # before any use. One whose peer vanished silently fails its request once, and
        # SQLAlchemy then replaces every pooled connection.
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that `begin` below decides how they start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY at the write, which busy_timeout does not retry.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(
    engine: AsyncEngine, *, webhook_endpoints: Sequence[str] = ()
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`. `webhook_endpoints` (MONEYPRINTER_WEBHOOK_URLS): the endpoints
    these sessions announce every job's end to, in the transaction that ends it
    (app/db/repositories/webhooks.py)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, info={WEBHOOK_ENDPOINTS: tuple(webhook_endpoints)}
    )


def is_transient_error(exc: BaseException) -> bool:
    """Worth retrying: the database restarted, a connection was dropped or terminated, the pool
    was exhausted, SQLite stayed busy. A bad statement or a broken constraint is not."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        cause: BaseException | None = exc.orig
        for _ in range(4):  # the driver's exception hides behind SQLAlchemy's adapter
            if cause is None:
                break
            if isinstance(cause, _LOST_CONNECTION):
                return True
            cause = cause.__cause__ or cause.__context__
    return False
