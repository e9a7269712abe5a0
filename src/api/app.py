"""The HTTP API: read tenders, enqueue and follow ingest jobs, manage watches (alerts),
health and metrics.

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

from arq.connections import ArqRedis
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.trustedhost import TrustedHostMiddleware

from configs.config import Settings, get_settings
from src.api import (
    routes_changes,
    routes_deliveries,
    routes_jobs,
    routes_ops,
    routes_tenders,
    routes_watches,
)
from src.api.auth import TokenAuth, require_read
from src.api.deps import ApiState
from src.api.errors import JsonErrors
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import deserialize, redis_settings, serialize
from src.infra.runtime import tune_garbage_collector

log = logging.getLogger("tenders.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()  # once per process, before the first request
        engine = create_engine(settings, custom_plans=True)
        analytics_engine = engine
        if settings.analytics_database_url is not None:
            url = settings.analytics_database_url.get_secret_value()
            analytics_engine = create_engine(settings, url=url, custom_plans=True)
        try:
            queue = queue_pool(settings)
            try:
                app.state.api = ApiState(
                    settings=settings,
                    engine=engine,
                    session_factory=create_session_factory(engine),
                    analytics_engine=analytics_engine,
                    analytics_session_factory=create_session_factory(analytics_engine),
                    queue=queue,
                    read_engine=autocommit(engine),
                    analytics_read_engine=autocommit(analytics_engine),
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
    routers = (routes_tenders, routes_changes, routes_jobs, routes_watches, routes_deliveries)
    for module in (*routers, routes_ops):
        app.include_router(module.router)
    if not docs:
        _schema_for_readers(app)
    # The last added runs first: a wrong Host is refused before any token is looked at, and
    # whatever any of them raises is answered as JSON.
    app.add_middleware(TokenAuth, settings=settings)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.api_allowed_hosts)
    app.add_middleware(JsonErrors, settings=settings)
    return app


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The engine (its pool) with connections that send no BEGIN / COMMIT."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def queue_pool(settings: Settings) -> ArqRedis:
    """arq's pool without `create_pool`'s ping at start (retried for ten seconds, then fatal):
    connections are opened when a request needs one, so the API starts while Redis is down
    and answers 503 until it is back."""
    redis = redis_settings(settings)
    pool = ArqRedis(
        host=redis.host,
        port=redis.port,
        unix_socket_path=redis.unix_socket_path,
        socket_connect_timeout=redis.conn_timeout,
        ssl=redis.ssl,
        ssl_keyfile=redis.ssl_keyfile,
        ssl_certfile=redis.ssl_certfile,
        ssl_cert_reqs=redis.ssl_cert_reqs,
        ssl_ca_certs=redis.ssl_ca_certs,
        ssl_ca_data=redis.ssl_ca_data,
        ssl_check_hostname=redis.ssl_check_hostname,
        max_connections=redis.max_connections,
        db=redis.database,
        username=redis.username,
        password=redis.password,
        encoding="utf8",
    )
    pool.job_serializer = serialize
    pool.job_deserializer = deserialize
    pool.default_queue_name = settings.queue_name
    return pool


def _schema_for_readers(app: FastAPI) -> None:
    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_read)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())
