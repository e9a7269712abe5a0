"""For operators: a health check for load balancers and orchestrators, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from functools import lru_cache
from typing import Annotated

from alembic.script import ScriptDirectory
from arq.connections import ArqRedis
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from configs.config import Settings
from src.api.auth import AUTH_RESPONSES, require_metrics
from src.api.deps import ApiState, get_analytics_db, get_queue, get_state
from src.api.errors import (
    RETRY_AFTER_SECONDS,
    NotMigratedError,
    describe_outage,
    mask,
    postgres_address,
    redis_address,
)
from src.api.metrics import collect, render
from src.api.schemas import Health
from src.infra.database.migrate import alembic_config

log = logging.getLogger("tenders.api")
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT = 3.0


@lru_cache(maxsize=1)
def _superseded_revisions() -> frozenset[str]:
    """Migrations older than this code's heads: a database at one of them is behind. (One
    at a revision this code does not know is ahead of it, as in a rolling upgrade: fine.)"""
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    return frozenset(r.revision for r in script.walk_revisions() if r.revision not in heads)


async def _check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    if revision is None or revision in _superseded_revisions():
        raise NotMigratedError(f"at revision {revision}")


async def _ping(queue: ArqRedis) -> None:
    await queue.ping()


async def _check(
    settings: Settings, service: str, probe: Awaitable[object], address: str, setting: str
) -> tuple[str, str | None]:
    """("ok", None), or ("unavailable (ErrorType)", why): "postgres: connection refused at
    127.0.0.1:5999; retry in a few seconds". Addresses are shown, passwords never."""
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - any failure means unavailable
        cause = getattr(error, "orig", None) or error
        outage = describe_outage(error, service, address, setting)
        why = outage.message if outage else f"{service}: {type(cause).__name__} at {address}"
        why = mask(why, settings)
        log.warning("health check: %s", why)
        return f"unavailable ({type(cause).__name__})", why
    return "ok", None


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "PostgreSQL or Redis is unavailable."}},
)
async def healthz(
    state: Annotated[ApiState, Depends(get_state)],
    queue: Annotated[ArqRedis, Depends(get_queue)],
) -> Response:
    """200 when PostgreSQL (migrated; and the replica, when configured) and Redis answer,
    else 503 with `detail` saying why. Open to anyone (load balancers have no token)."""
    settings = state.settings
    engine, analytics_engine = state.engine, state.analytics_engine
    checks = [
        _check(
            settings,
            "postgres",
            _check_database(engine),
            postgres_address(engine.url),
            "DATABASE_URL",
        ),
        _check(settings, "redis", _ping(queue), redis_address(queue), "REDIS_URL"),
    ]
    if analytics_engine is not engine:
        address = postgres_address(analytics_engine.url)
        probe = _check_database(analytics_engine)
        checks.append(_check(settings, "analytics", probe, address, "ANALYTICS_DATABASE_URL"))
    results = await asyncio.gather(*checks)
    (postgres, _), (redis, _), *analytics = results
    reasons = [why for _, why in results if why is not None]
    health = Health(
        status="unavailable" if reasons else "ok",
        postgres=postgres,
        redis=redis,
        analytics=analytics[0][0] if analytics else None,
        detail="; ".join(reasons) if reasons else None,
    )
    body = health.model_dump(exclude={"detail"} if not reasons else None)
    if not reasons:
        return JSONResponse(body)
    return JSONResponse(body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **AUTH_RESPONSES,
    },
    dependencies=[Depends(require_metrics)],
)
async def metrics(db: Annotated[AsyncSession, Depends(get_analytics_db)]) -> Response:
    """Ingest figures from the ingest_runs table, in Prometheus' text format."""
    snapshot = await collect(db)
    return Response(render(snapshot), media_type=CONTENT_TYPE_LATEST)
