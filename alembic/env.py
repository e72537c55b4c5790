"""Alembic environment: runs migrations over the app's async engine (SQLite or Postgres)."""

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from app.db.models import Base
from app.db.session import create_engine
from app.settings import Settings

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    """`-x url=…`, then a URL set on the config by a caller (tests, the CLI), then the settings."""
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.attributes.get("url")
        or Settings().resolved_database_url
    )


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "sqlite":
        # Foreign keys are off while SQLite copies tables (below): check none was broken.
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


async def run_migrations_online() -> None:
    # Off on SQLite: altering a table copies it and drops the old one, and with foreign keys on,
    # dropping it would first delete every row that refers to it (ON DELETE CASCADE).
    engine = create_engine(database_url(), pool_size=1, foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
