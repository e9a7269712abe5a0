"""The worker's shared context: what every job may use. Sessions are not in it: each job
opens its own from `session_factory`."""

from __future__ import annotations

import logging
from typing import Any, TypedDict

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings, get_settings
from src.infra.database import create_engine, create_session_factory

log = logging.getLogger("tenders.worker")


class WorkerContext(TypedDict, total=False):
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    redis: ArqRedis  # set by arq
    job_id: str  # set by arq per job
    job_try: int  # set by arq per job


async def on_startup(ctx: dict[str, Any]) -> None:
    """Build what jobs share. A test may have put its own settings or session factory in ctx."""
    settings: Settings = ctx.setdefault("settings", get_settings())
    if "session_factory" not in ctx:
        ctx["engine"] = create_engine(settings)
        ctx["session_factory"] = create_session_factory(ctx["engine"])
    ctx["http"] = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        follow_redirects=True,
        headers={"User-Agent": settings.user_agent},
    )
    log.info("worker started (queue %s)", settings.queue_name)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    """The worker owns the HTTP client and the engine it built: close both."""
    http = ctx.pop("http", None)
    if http is not None:
        await http.aclose()
    engine = ctx.pop("engine", None)
    if engine is not None:
        await engine.dispose()
    log.info("worker stopped")
