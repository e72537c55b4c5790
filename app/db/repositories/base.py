"""What every repository shares: the caller's session, its dialect, and how rows are counted.

A repository flushes but never commits: the caller owns the transaction (the API's request
session, or the worker's `sessionmaker.begin()` blocks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.dialect import Dialect


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> Dialect:
        return Dialect.of(self.session)


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE matched (0 when the driver cannot tell)."""
    return int(getattr(result, "rowcount", 0) or 0)
