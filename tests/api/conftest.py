"""The real app (create_app) on a database of the test's own and the real Redis, through
httpx's ASGI transport with the app's lifespan running. Only DNS is faked: no test traffic
leaves the machine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.infra.database import create_engine, create_session_factory
from tests.support.api import TEST_HOST, TOKENS, build_app, clear_queue, running
from tests.support.paths import FIXTURES, ROOT
from tests.support.servers import Servers


@pytest.fixture
def sources_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    return folder


@pytest.fixture
def api_settings(servers: Servers, fresh_database_url: str, sources_dir: Path) -> Settings:
    return Settings(
        database_url=fresh_database_url,
        redis_url=servers.redis_url,
        queue_name=f"test:api:{uuid.uuid4().hex[:8]}",
        allowed_source_dirs=[sources_dir, FIXTURES],
        worker_poll_delay=0.05,
        data_dir=ROOT / ".data",
        api_tokens=list(TOKENS.values()),
        api_allowed_hosts=["127.0.0.1", TEST_HOST],
    )


@pytest.fixture
async def client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    try:
        async with running(build_app(api_settings)) as client:
            yield client
    finally:
        await clear_queue(api_settings)


@pytest.fixture
async def sessions(api_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database that commit, for seeding what the API reads."""
    engine = create_engine(api_settings)
    yield create_session_factory(engine)
    await engine.dispose()
