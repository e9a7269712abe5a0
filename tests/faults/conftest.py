"""Fixtures for fault tests: private servers a test may restart, worker processes it may kill,
and databases to compare a faulted run with a clean one. Every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from configs.config import Settings
from src.infra.database import create_engine
from tests.support.servers import (
    PrivatePostgres,
    PrivateRedis,
    Servers,
    copy_database,
    drop_database,
    free_port,
)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pg")
    yield server
    server.stop()


@pytest.fixture
async def fault_db(servers: Servers, fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=fresh_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def second_database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    """Another migrated database, for the clean run a faulted one is compared with."""
    name = await copy_database(servers, template_database)
    yield servers.database(name)
    await drop_database(servers, name)
