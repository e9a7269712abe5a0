"""Request dependencies. Each request gets its own session, closed when the response is sent;
tests replace any of these with `app.dependency_overrides`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from arq.connections import ArqRedis
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.infra.source_policy import Resolver, system_resolver


@dataclass(frozen=True)
class ApiState:
    """What the lifespan builds and disposes: one per running app."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    # The replica when ANALYTICS_DATABASE_URL is set; else the primary engine and factory.
    analytics_engine: AsyncEngine
    analytics_session_factory: async_sessionmaker[AsyncSession]
    queue: ArqRedis
    # The same two engines (and pools) in autocommit, for routes that read with one statement:
    # no BEGIN and COMMIT round trips (one statement sees one snapshot anyway).
    read_engine: AsyncEngine
    analytics_read_engine: AsyncEngine


def get_state(request: Request) -> ApiState:
    state: ApiState | None = getattr(request.app.state, "api", None)
    if state is None:
        raise RuntimeError("the app's lifespan has not run: serve it with uvicorn or server.serve")
    return state


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    return get_state(request).session_factory


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on the primary database, for this request only."""
    async with get_state(request).session_factory() as session:
        yield session


async def get_analytics_db(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for lists and feeds: on the replica when one is configured."""
    async with get_state(request).analytics_session_factory() as session:
        yield session


async def get_reader(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection for one reading statement on the primary (autocommit), for this request."""
    async with get_state(request).read_engine.connect() as connection:
        yield connection


async def get_analytics_reader(request: Request) -> AsyncIterator[AsyncConnection]:
    """The same on the replica when one is configured."""
    async with get_state(request).analytics_read_engine.connect() as connection:
        yield connection


def get_queue(request: Request) -> ArqRedis:
    return get_state(request).queue


def get_resolver() -> Resolver:
    """How host names of submitted URLs are resolved (tests give a fake one: no DNS)."""
    return system_resolver
