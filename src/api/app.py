"""The HTTP API: read tenders, enqueue and follow ingest jobs, health and metrics.

`create_app(settings)` builds the app; its lifespan owns the engines (primary, and the
analytics/replica one when ANALYTICS_DATABASE_URL is set) and the arq pool, and disposes them
at shutdown. Routes get one session per request from the dependencies in `deps`. In front of
them: the Host header is checked (API_ALLOWED_HOSTS), then the caller's token and rate
(`auth`). /docs and /redoc are served only when API_DOCS is on (their pages load scripts
from a CDN); otherwise the schema is at /openapi.json for holders of a read token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.exceptions
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.middleware.trustedhost import TrustedHostMiddleware

from configs.config import Settings, get_settings
from src.api import routes_changes, routes_jobs, routes_ops, routes_tenders
from src.api.auth import TokenAuth, require_read
from src.api.deps import ApiState
from src.infra.database import create_engine, create_session_factory
from src.infra.errors import is_transient
from src.infra.queue import create_queue_pool

log = logging.getLogger("tenders.api")
RETRY_AFTER_SECONDS = 5


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        analytics_engine = engine
        if settings.analytics_database_url is not None:
            url = settings.analytics_database_url.get_secret_value()
            analytics_engine = create_engine(settings, url=url)
        try:
            queue = await create_queue_pool(settings)
            try:
                app.state.api = ApiState(
                    settings=settings,
                    engine=engine,
                    session_factory=create_session_factory(engine),
                    analytics_engine=analytics_engine,
                    analytics_session_factory=create_session_factory(analytics_engine),
                    queue=queue,
                )
                yield
            finally:
                app.state.api = None
                await queue.aclose()
        finally:
            await engine.dispose()
            if analytics_engine is not engine:
                await analytics_engine.dispose()

    docs = settings.api_docs
    app = FastAPI(
        title="tenders",
        summary="Public-procurement tenders, kept complete and current.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.settings = settings
    app.state.api = None
    for module in (routes_tenders, routes_changes, routes_jobs, routes_ops):
        app.include_router(module.router)
    if not docs:
        _schema_for_readers(app)
    # The last added runs first: a wrong Host is refused before any token is looked at.
    app.add_middleware(TokenAuth, settings=settings)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.api_allowed_hosts)
    for error_type in (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        OSError,
    ):
        app.add_exception_handler(error_type, _unavailable)
    return app


def _schema_for_readers(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_read)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    """PostgreSQL or Redis down (or restarting): 503 and Retry-After, not a 500 with a trace.
    Anything that a retry cannot fix is a bug and stays a 500."""
    if not is_transient(error):
        raise error
    log.warning("%s %s: service unavailable: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "the database or the queue is unavailable: retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
