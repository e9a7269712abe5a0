"""Engines and sessions.

`create_engine(settings)` is the factory; the module-level `engine` and `async_session` are
built from `get_settings()` on first use (PEP 562 `__getattr__` in the package), so importing
this module never connects and never needs a URL. Whoever starts a process owns `dispose()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from configs.config import Settings, get_settings
from src.domain.serialization import json_serializer
from src.infra.database.pings import ping_when_idle


def create_engine(
    settings: Settings, *, url: str | None = None, custom_plans: bool = False
) -> AsyncEngine:
    """An engine with the settings' pool and statement caches (DB_STATEMENT_CACHE_SIZE; 0 for
    PgBouncer in transaction mode). Statement parameters stay out of error messages (they
    can be whole publications). `custom_plans`: plan every cached statement with its values
    (the API's filters; see `_server_settings`)."""
    target = make_url(url or settings.require_database_url())
    options: dict[str, Any] = {
        "echo": settings.debug,
        "hide_parameters": not settings.debug,
        "json_serializer": json_serializer,
        "json_deserializer": orjson.loads,
    }
    if target.get_backend_name() == "postgresql":
        options.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=settings.db_pool_recycle,
            pool_pre_ping=settings.db_pool_pre_ping and not settings.db_pool_ping_after,
            connect_args={
                "statement_cache_size": settings.db_statement_cache_size,
                "prepared_statement_cache_size": settings.db_statement_cache_size,
                "server_settings": _server_settings(settings, custom_plans),
            },
        )
    engine = create_async_engine(target, **options)
    postgres = target.get_backend_name() == "postgresql"
    if postgres and settings.db_pool_pre_ping and settings.db_pool_ping_after:
        ping_when_idle(engine, settings.db_pool_ping_after)
    return engine


def _server_settings(settings: Settings, custom_plans: bool) -> dict[str, str]:
    """What each connection is started with. Cached statements are named, and PostgreSQL
    may plan one generically after five runs: an API filter on a prefix (`cpv LIKE $1`)
    then cannot use its index, so the API's connections plan each statement with its
    values, as unnamed statements were. The worker's statements have one shape whatever
    the batch: a generic plan saves planning a 1,000-key lookup per batch."""
    options = {"application_name": "tenders"}
    if custom_plans and settings.db_statement_cache_size:
        options["plan_cache_mode"] = "force_custom_plan"
    return options


class UnitOfWorkSession(AsyncSession):
    """A session that is a unit of work: `async with` commits what is pending when the block
    ends without an exception, and rolls back otherwise. Services only add and flush; so the
    seed's `async with async_session() as session: await TenderService.create(session, data)`
    saves. A block that used `session.begin()` has committed already: nothing is left."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        try:
            if type_ is None and self.in_transaction():
                await self.commit()
        finally:
            await super().__aexit__(type_, value, traceback)


def create_session_factory(bind: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind, class_=UnitOfWorkSession, expire_on_commit=False, autoflush=False
    )


class _Engines:
    """The process's default engines, built lazily from `get_settings()`."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.session_factory: async_sessionmaker[AsyncSession] | None = None
        self.analytics_engine: AsyncEngine | None = None
        self.analytics_session_factory: async_sessionmaker[AsyncSession] | None = None

    def primary(self) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
        if self.engine is None or self.session_factory is None:
            self.engine = create_engine(get_settings())
            self.session_factory = create_session_factory(self.engine)
        return self.engine, self.session_factory

    def analytics(self) -> async_sessionmaker[AsyncSession]:
        """The analytics/replica session factory, or the primary one when none is configured."""
        settings = get_settings()
        if settings.analytics_database_url is None:
            return self.primary()[1]
        if self.analytics_session_factory is None:
            url = settings.analytics_database_url.get_secret_value()
            self.analytics_engine = create_engine(settings, url=url)
            self.analytics_session_factory = create_session_factory(self.analytics_engine)
        return self.analytics_session_factory


_engines = _Engines()


def get_engine() -> AsyncEngine:
    return _engines.primary()[0]


def get_session_factory() -> async_sessionmaker[AsyncSession]:
    return _engines.primary()[1]


def get_analytics_session_factory() -> async_sessionmaker[AsyncSession]:
    return _engines.analytics()


async def get_db() -> AsyncIterator[AsyncSession]:
    """FastAPI-style dependency: one session per request, a unit of work. What the route
    added or changed is committed when it returns; an exception rolls it back."""
    async with get_session_factory()() as session:
        yield session


async def get_analytics_db() -> AsyncIterator[AsyncSession]:
    """Like `get_db`, on the analytics/replica database when ANALYTICS_DATABASE_URL is set."""
    async with get_analytics_session_factory()() as session:
        yield session


def get_analytics_engine() -> AsyncEngine:
    """The analytics/replica engine, or the primary one when none is configured."""
    _engines.analytics()
    return _engines.analytics_engine or get_engine()


# The seed's "multiple databases" names.
get_primary_db = get_db


async def dispose_engines() -> None:
    """Close every pooled connection; called by whoever started the process, at its end."""
    for engine in (_engines.engine, _engines.analytics_engine):
        if engine is not None:
            await engine.dispose()
