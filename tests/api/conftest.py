"""The real app (create_app) on a database of the test's own and the real Redis, through
httpx's ASGI transport with the app's lifespan running. Only DNS is faked: no test traffic
leaves the machine."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.api import create_app
from src.api.deps import get_resolver
from src.domain.tender.schemas import TenderRecord
from src.domain.tender.services import TenderService
from src.infra.database import create_engine, create_session_factory
from src.infra.queue import create_queue_pool
from src.infra.source_policy import Resolver
from tests.conftest import FIXTURES, ROOT, Servers

FAKE_DNS: dict[str, list[str]] = {
    "feeds.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "intranet.example.org": ["10.1.2.3"],
    "mixed.example.org": ["93.184.215.14", "127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
}
BASE_TIME = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def fake_resolver(host: str) -> list[str]:
    try:
        return FAKE_DNS[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def build_app(settings: Settings, resolver: Resolver = fake_resolver) -> FastAPI:
    app = create_app(settings)
    app.dependency_overrides[get_resolver] = lambda: resolver
    return app


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (engines, arq pool) running, and a client talking to it."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
    ):
        yield client


async def clear_queue(settings: Settings) -> None:
    pool = await create_queue_pool(settings)
    try:
        queued = await pool.zrange(settings.queue_name, 0, -1)
        await pool.delete(settings.queue_name, *(b"arq:job:" + job_id for job_id in queued))
    finally:
        await pool.aclose()


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


def record(n: int, **overrides: Any) -> TenderRecord:
    """A valid ANAC lot; `n` makes its CIG and procedure unique."""
    fields: dict[str, Any] = {
        "source": "anac",
        "procedure_id": f"P{n:05d}",
        "cig": f"{n:07d}A0B",
        "title": f"Lavori di manutenzione stradale lotto {n}",
        "description": "Manutenzione ordinaria delle strade comunali",
        "buyer_id": "80012345678",
        "buyer_name": "Comune di Esempio",
        "cpv": "45233141-9",
        "status": "active",
        "amount": "125000.50",
        "currency": "EUR",
        "published_at": BASE_TIME + timedelta(days=n),
        "deadline_at": BASE_TIME + timedelta(days=30 + n),
        "source_updated_at": BASE_TIME + timedelta(days=n),
    }
    fields.update(overrides)
    return TenderRecord(**fields)


async def store(
    sessions: async_sessionmaker[AsyncSession], records: Sequence[TenderRecord]
) -> None:
    """One committed transaction, as an ingest batch writes it."""
    async with sessions() as session, session.begin():
        await TenderService.upsert_many(session, records)
