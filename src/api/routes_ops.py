"""For operators: a health check for load balancers and orchestrators, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from src.api.auth import AUTH_RESPONSES, require_metrics
from src.api.deps import ApiState, get_analytics_db, get_queue, get_state
from src.api.metrics import collect, render
from src.api.schemas import Health

log = logging.getLogger("tenders.api")
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT = 3.0


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _ping(queue: ArqRedis) -> None:
    await queue.ping()


async def _check(name: str, probe: Awaitable[object]) -> str:
    """Either "ok" or "unavailable (ErrorType)": the details go to the log, not to the caller."""
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - any failure means unavailable
        cause = getattr(error, "orig", None) or error
        log.warning("health check: %s unavailable: %s", name, cause)
        return f"unavailable ({type(cause).__name__})"
    return "ok"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "PostgreSQL or Redis is unavailable."}},
)
async def healthz(
    state: Annotated[ApiState, Depends(get_state)],
    queue: Annotated[ArqRedis, Depends(get_queue)],
) -> Response:
    """200 when PostgreSQL (and the replica, when configured) and Redis answer, else 503.
    Open to anyone (load balancers have no token): it tells up or down, nothing more."""
    checks = [
        _check("postgres", _select_one(state.engine)),
        _check("redis", _ping(queue)),
    ]
    if state.analytics_engine is not state.engine:
        checks.append(_check("analytics", _select_one(state.analytics_engine)))
    postgres, redis, *analytics = await asyncio.gather(*checks)
    results = [postgres, redis, *analytics]
    healthy = all(result == "ok" for result in results)
    health = Health(
        status="ok" if healthy else "unavailable",
        postgres=postgres,
        redis=redis,
        analytics=analytics[0] if analytics else None,
    )
    return JSONResponse(health.model_dump(), status_code=200 if healthy else 503)


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
