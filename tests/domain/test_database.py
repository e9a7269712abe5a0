from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from configs.config import ConfigurationError, Settings, get_settings, redact_url
from src.domain.tender.entities import Tender
from src.domain.tender.schemas import TenderCreate
from src.domain.tender.services import TenderService
from src.infra.database import Base, create_engine
from src.infra.database import session as session_module


def test_tablename_is_the_class_name_in_lowercase_unless_set() -> None:
    class IngestProbe(Base):
        id: Mapped[int] = mapped_column(primary_key=True)

    assert IngestProbe.__tablename__ == "ingestprobe"
    assert Tender.__tablename__ == "tenders"
    Base.metadata.remove(Base.metadata.tables["ingestprobe"])


def test_constraints_are_named_by_convention() -> None:
    names = {c.name for c in Base.metadata.tables["tenders"].constraints}
    assert {"pk_tenders", "uq_tenders_cig", "uq_tenders_identity_key"} <= names


def test_engine_applies_the_pool_settings() -> None:
    settings = Settings(
        database_url="postgres://u:secret@db.example:5432/x",
        db_pool_size=7,
        db_max_overflow=3,
        db_pool_timeout=12,
        db_pool_recycle=99,
    )
    engine = create_engine(settings)
    pool = engine.sync_engine.pool
    assert engine.url.drivername == "postgresql+asyncpg"
    assert pool.size() == 7  # type: ignore[attr-defined]
    assert pool._max_overflow == 3  # type: ignore[attr-defined]
    assert pool._timeout == 12  # type: ignore[attr-defined]
    assert pool._recycle == 99
    assert pool._pre_ping is True
    assert engine.sync_engine.hide_parameters is True
    assert "secret" not in repr(engine) and "secret" not in repr(settings)


def test_seed_defaults() -> None:
    settings = Settings(database_url="postgresql://x/y")
    assert (
        settings.db_pool_size,
        settings.db_max_overflow,
        settings.db_pool_timeout,
        settings.db_pool_recycle,
        settings.db_pool_pre_ping,
    ) == (10, 20, 30, 3600, True)


async def test_statement_caches_are_off(engine: object) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        assert driver._stmt_cache.get_max_size() == 0
        assert await connection.scalar(text("select 1")) == 1


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_URL is not set"):
        create_engine(Settings(database_url=None))


def test_redact_url() -> None:
    assert redact_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("postgresql+asyncpg://u:pw@h/db") == "postgresql+asyncpg://u:***@h/db"
    assert redact_url("unix:///tmp/r.sock") == "unix:///tmp/r.sock"


async def test_get_db_yields_a_session_and_closes_it(
    monkeypatch: pytest.MonkeyPatch, shared_database_url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", shared_database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(session_module, "_engines", session_module._Engines())
    try:
        dependency = session_module.get_db()
        session = await anext(dependency)
        assert isinstance(session, AsyncSession)
        assert await session.scalar(text("select 1")) == 1
        assert session.in_transaction()
        with pytest.raises(StopAsyncIteration):
            await anext(dependency)
        assert not session.in_transaction()
        from src.infra.database import async_session, engine

        assert async_session is session_module.get_session_factory()
        assert engine is session_module.get_engine()
    finally:
        await session_module.dispose_engines()
        get_settings.cache_clear()


# The seed's SQLite fixture: the schema still creates there, and create/get work.
@pytest.fixture
async def sqlite_session() -> AsyncIterator[AsyncSession]:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session
    await engine.dispose()


async def test_seed_sqlite_fixture_create_and_get(sqlite_session: AsyncSession) -> None:
    tender = await TenderService.create(sqlite_session, TenderCreate(title="Test", cig="12345"))
    assert isinstance(tender.id, uuid.UUID)
    assert (await TenderService.get_by_id(sqlite_session, tender.id)) is tender
    found = await TenderService.get_by_cig(sqlite_session, "12345")
    assert found is not None and found.title == "Test"
