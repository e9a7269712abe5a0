"""The examples of the database documentation users read first, run as written: a route on
`Depends(get_db)` and a block on `async_session()` that call `TenderService.create` save the
tender (sessions are units of work); the "multiple databases" names exist; the SQLite test
fixture works with its in-memory database kept on one connection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import StaticPool

from configs.config import get_settings
from src.domain.tender.entities import Tender
from src.domain.tender.schemas import TenderCreate
from src.domain.tender.services import TenderService
from src.infra.database import Base
from src.infra.database import session as session_module


@pytest.fixture
async def default_engines(
    monkeypatch: pytest.MonkeyPatch, fresh_database_url: str
) -> AsyncIterator[None]:
    """The module-level engines built from the environment, as a user's process has them."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PRIMARY_DB_URL", fresh_database_url)
    monkeypatch.setenv("ANALYTICS_DB_URL", fresh_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(session_module, "_engines", session_module._Engines())
    try:
        yield
    finally:
        await session_module.dispose_engines()
        get_settings.cache_clear()


async def _titles() -> list[str]:
    from src.infra.database import async_session

    async with async_session() as session:
        return list((await session.scalars(select(Tender.title).order_by(Tender.title))).all())


async def test_a_route_on_get_db_saves_what_the_service_creates(default_engines: None) -> None:
    from src.infra.database import get_db

    app = FastAPI()

    @app.post("/tenders/{title}")
    async def create(title: str, db: AsyncSession = Depends(get_db)) -> dict[str, str]:  # noqa: B008
        tender = await TenderService.create(db, TenderCreate(title=title))
        if title == "refused":
            raise HTTPException(422, "refused after the insert")
        return {"id": str(tender.id)}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://seed.test") as client:
        created = await client.post("/tenders/kept")
        refused = await client.post("/tenders/refused")
    assert created.status_code == 200 and refused.status_code == 422
    assert await _titles() == ["kept"], "committed at the end of the request; rolled back on error"


async def test_a_block_on_async_session_saves_what_the_service_creates(
    default_engines: None,
) -> None:
    from src.infra.database import async_session

    async with async_session() as session:
        tender = await TenderService.create(session, TenderCreate(title="Test Tender", cig="12345"))

    async def create_then_fail() -> None:
        async with async_session() as session:
            await TenderService.create(session, TenderCreate(title="lost"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await create_then_fail()
    assert await _titles() == ["Test Tender"]
    async with async_session() as session:
        found = await TenderService.get_by_id(session, tender.id)
        assert found is not None and found.cig == "12345"


async def test_the_multiple_databases_names(default_engines: None) -> None:
    from src.infra import database

    assert database.primary_engine is database.engine
    assert database.primary_session is database.async_session
    assert database.get_primary_db is database.get_db
    async with database.analytics_session() as session:
        assert await session.scalar(select(1)) == 1
    assert database.analytics_engine is not database.primary_engine, "ANALYTICS_DB_URL is its own"
    async for session in database.get_analytics_db():
        assert await session.scalar(select(1)) == 1


@pytest.fixture
async def seed_sqlite_session() -> AsyncIterator[AsyncSession]:
    """The documentation's SQLite fixture, with the in-memory database on one connection
    (StaticPool): with NullPool every connection would be a new, empty database."""
    engine = create_async_engine("sqlite+aiosqlite:///:memory:", echo=False, poolclass=StaticPool)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with AsyncSession(engine) as session:
        yield session
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


async def test_the_seed_sqlite_example(seed_sqlite_session: AsyncSession) -> None:
    data = TenderCreate(title="Test Tender", cig="12345")
    tender = await TenderService.create(seed_sqlite_session, data)
    assert isinstance(tender.id, uuid.UUID)
    assert tender.title == "Test Tender"
    assert await TenderService.get_by_id(seed_sqlite_session, tender.id) is tender
