from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
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
    assert pool._pre_ping is False  # pinged when idle (DB_POOL_PING_AFTER), not at every use
    every_use = create_engine(settings.model_copy(update={"db_pool_ping_after": 0}))
    assert every_use.sync_engine.pool._pre_ping is True
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


async def _cache_size(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        assert await connection.scalar(text("select 1")) == 1
        return int(driver._stmt_cache.get_max_size())


async def test_statement_caches_follow_the_setting(shared_database_url: str) -> None:
    cached = create_engine(Settings(database_url=shared_database_url))
    off = create_engine(Settings(database_url=shared_database_url, db_statement_cache_size=0))
    try:
        assert await _cache_size(cached) == 100
        assert await _cache_size(off) == 0  # PgBouncer in transaction mode before 1.21
    finally:
        await cached.dispose()
        await off.dispose()


async def _plan_cache_mode(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        return str(await connection.scalar(text("show plan_cache_mode")))


async def test_cached_statements_are_still_planned_with_their_values(
    shared_database_url: str,
) -> None:
    """A named statement planned generically could not use a prefix index (`cpv LIKE $1`):
    the API's engines plan with values; the worker's keep PostgreSQL's choice."""
    settings = Settings(database_url=shared_database_url)
    api = create_engine(settings, custom_plans=True)
    worker = create_engine(settings)
    off = create_engine(
        settings.model_copy(update={"db_statement_cache_size": 0}), custom_plans=True
    )
    try:
        assert await _plan_cache_mode(api) == "force_custom_plan"
        assert await _plan_cache_mode(worker) == "auto"
        assert await _plan_cache_mode(off) == "auto"  # unnamed statements: custom anyway
    finally:
        for engine in (api, worker, off):
            await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("select pg_backend_pid()")) or 0)


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    shared_database_url: str,
) -> None:
    """Pinged when it has sat in the pool DB_POOL_PING_AFTER seconds: the server closed it
    meanwhile (a restart, an idle timeout), so the pool hands out a new one, and the
    statement never sees the dead one."""
    settings = Settings(database_url=shared_database_url, db_pool_size=1, db_max_overflow=0)
    engine = create_engine(settings.model_copy(update={"db_pool_ping_after": 0.2}))
    killer = create_engine(Settings(database_url=shared_database_url))
    try:
        first = await _backend_pid(engine)
        assert await _backend_pid(engine) == first  # in steady use: the same, unpinged
        async with killer.connect() as connection:
            await connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.3)
        second = await _backend_pid(engine)
        assert second != first
    finally:
        await engine.dispose()
        await killer.dispose()


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
