"""The two databases the service runs on, and what the code does differently on each.

Every branch on the database goes through `Dialect`. Where the two differ in what they can do, a
property names the capability the branch depends on (`locks_rows`, `writes_in_ctes`, …), so a
reader sees why the paths differ; where they only spell a function differently (a random token,
seconds between two times, JSON containment), the branch compares with the member itself.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.engine import Dialect as SQLAlchemyDialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"

    @classmethod
    def of(cls, bound: AsyncSession | AsyncEngine | AsyncConnection | SQLAlchemyDialect) -> Dialect:
        """The database a session, an engine or a connection talks to (ValueError for one the
        service does not run on)."""
        if isinstance(bound, AsyncSession):
            return cls(bound.get_bind().dialect.name)
        if isinstance(bound, SQLAlchemyDialect):
            return cls(bound.name)
        return cls(bound.dialect.name)

    @property
    def locks_rows(self) -> bool:
        """`FOR UPDATE SKIP LOCKED`: concurrent claimers and pruners skip each other's rows.
        SQLite has no row locks; there `BEGIN IMMEDIATE` serialises every writer instead."""
        return self is Dialect.POSTGRES

    @property
    def writes_in_ctes(self) -> bool:
        """Data-modifying CTEs: a job's UPDATE or INSERT and the events it logs in one statement,
        one round trip. SQLite logs them with a second statement in the same transaction."""
        return self is Dialect.POSTGRES

    @property
    def notifies(self) -> bool:
        """`LISTEN/NOTIFY`, which wakes idle workers when a job is queued."""
        return self is Dialect.POSTGRES

    @property
    def autocommits_one_statement(self) -> bool:
        """A single statement runs as its own transaction, sent without BEGIN and COMMIT. On
        SQLite every transaction must begin IMMEDIATE (the write lock), so it never skips BEGIN."""
        return self is Dialect.POSTGRES
