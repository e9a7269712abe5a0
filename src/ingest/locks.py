"""A source never runs twice at once: a PostgreSQL advisory lock, held on a connection of
its own for the job's length. Unlike a "running" flag, it dies with a killed worker's
connection, so a job taken over after a crash is never blocked by a ghost."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))")


def _engine(session_factory: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = session_factory.kw["bind"]
    return bind if isinstance(bind, AsyncEngine) else bind.engine


@asynccontextmanager
async def advisory_lock(
    session_factory: async_sessionmaker[AsyncSession], key: str
) -> AsyncIterator[bool]:
    """Yields whether the lock was taken; released at the end (or with the connection)."""
    async with _engine(session_factory).connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        taken = bool(await connection.scalar(_LOCK, {"key": key}))
        try:
            yield taken
        finally:
            if taken:
                # A dead connection has released the lock already.
                with contextlib.suppress(Exception):
                    await connection.scalar(_UNLOCK, {"key": key})
