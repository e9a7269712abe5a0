"""Database infrastructure: `from src.infra.database import Base, get_db, async_session, engine`.

`engine` and `async_session` are resolved on first access (they need DATABASE_URL), so that
importing `Base` never requires a configured database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from src.infra.database.base import Base
from src.infra.database.session import (
    create_engine,
    create_session_factory,
    dispose_engines,
    get_analytics_db,
    get_analytics_engine,
    get_analytics_session_factory,
    get_db,
    get_engine,
    get_primary_db,
    get_session_factory,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    engine: AsyncEngine
    async_session: async_sessionmaker[AsyncSession]
    analytics_async_session: async_sessionmaker[AsyncSession]
    primary_engine: AsyncEngine
    analytics_engine: AsyncEngine
    primary_session: async_sessionmaker[AsyncSession]
    analytics_session: async_sessionmaker[AsyncSession]

__all__ = [
    "Base",
    "analytics_async_session",
    "analytics_engine",
    "analytics_session",
    "async_session",
    "create_engine",
    "create_session_factory",
    "dispose_engines",
    "engine",
    "get_analytics_db",
    "get_db",
    "get_primary_db",
    "primary_engine",
    "primary_session",
]


_LAZY = {
    "engine": get_engine,
    "primary_engine": get_engine,
    "async_session": get_session_factory,
    "primary_session": get_session_factory,
    "analytics_engine": get_analytics_engine,
    "analytics_async_session": get_analytics_session_factory,
    "analytics_session": get_analytics_session_factory,
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
