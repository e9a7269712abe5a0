"""Fixtures on real PostgreSQL and Redis.

The servers are TEST_DATABASE_URL / TEST_REDIS_URL when set (CI: the machine's own), else
the embedded ones under .data/. Each test session migrates one template database; tests get
databases copied from it (CREATE DATABASE .. TEMPLATE), so no test cleans up with DELETE:
transactional tests roll back, worker-process tests get a database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from configs.config import Settings
from src.infra.database import create_engine
from src.infra.database.migrate import upgrade
from src.infra.queue import create_queue_pool
from tests.support.jobs import job_ctx
from tests.support.paths import ROOT, require_shared_data
from tests.support.processes import Workers
from tests.support.servers import Servers, admin, copy_database, resolve_servers
from workers.context import WorkerDeps


@pytest.fixture(scope="session")
def servers() -> Servers:
    return resolve_servers("TEST_DATABASE_URL", "TEST_REDIS_URL", ROOT / ".data")


@pytest.fixture(scope="session")
async def template_database(servers: Servers) -> AsyncIterator[str]:
    """A migrated database that tests copy; nothing stays connected to it."""
    name = f"tenders_tpl_{uuid.uuid4().hex[:10]}"
    await admin(servers, f'CREATE DATABASE "{name}"')
    engine = create_engine(Settings(database_url=servers.database(name)))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    yield name
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def fresh_database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    """A migrated database of this test's own, for worker processes and committed data."""
    name = await copy_database(servers, template_database)
    yield servers.database(name)
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def shared_database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    name = await copy_database(servers, template_database)
    yield servers.database(name)
    await admin(servers, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(servers: Servers, shared_database_url: str) -> Settings:
    return Settings(
        database_url=shared_database_url,
        redis_url=servers.redis_url,
        queue_name=f"test:{uuid.uuid4().hex[:8]}",
        ingest_batch_size=50,
        worker_retry_backoff=1.0,
        worker_poll_delay=0.05,
        data_dir=ROOT / ".data",
    )


@pytest.fixture(scope="session")
async def engine(shared_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=shared_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def session_factory(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions joined to the test's transaction: their commits are savepoints."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def db_session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_queue_pool(settings)
    yield pool
    queued = await pool.zrange(settings.queue_name, 0, -1)
    await pool.delete(settings.queue_name, *(b"arq:job:" + job_id for job_id in queued))
    await pool.aclose()


@pytest.fixture
async def deps(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], queue: ArqRedis
) -> AsyncIterator[WorkerDeps]:
    """What the worker builds at start-up, on the test's rolled-back transaction."""
    built = WorkerDeps.build(settings, queue, session_factory)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def ctx(deps: WorkerDeps) -> dict[str, Any]:
    """A job context as arq hands it to a job (replace `ctx["deps"]` to change settings)."""
    return job_ctx(deps)


@pytest.fixture
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture
def env(servers: Servers, fresh_database_url: str) -> dict[str, str]:
    """A worker process's environment: explicit URLs, never servers of its own."""
    return {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "REDIS_URL": servers.redis_url,
        "QUEUE_NAME": f"test:{uuid.uuid4().hex[:8]}",
        "WORKER_POLL_DELAY": "0.05",
        "COLUMNS": "250",
    }


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Workers]]:
    """Worker processes (`tenders worker`) with a given environment; killed at the end."""
    made: list[Workers] = []

    def make(env: dict[str, str]) -> Workers:
        logs = tmp_path / f"logs{len(made)}"
        logs.mkdir()
        made.append(Workers(env, logs))
        return made[-1]

    yield make
    for group in made:
        group.stop_all()
