"""New rows skip staging: the keys a batch's pre-read found in no stored row are COPied
straight into `tenders` and `publications`, under a savepoint. When another writer stores
one of those keys between the pre-read and the COPY, nothing of the COPY stays and the
batch takes the upsert path, which settles the race by the same rule as ever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.tender.schemas import UpsertCounts
from src.domain.tender.services import TenderService
from src.infra.database import create_engine
from tests.domain.test_staged_writes import T0, lot
from tests.support.polling import until


@pytest.fixture
async def engine_of_own(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=fresh_database_url))
    yield engine
    await engine.dispose()


async def _staging_tables(session: AsyncSession) -> list[str]:
    found = await session.execute(
        text(
            "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() "
            "AND relname IN ('staging_tenders', 'staging_publications') ORDER BY relname"
        )
    )
    return list(found.scalars())


async def test_new_rows_are_written_without_staging(db_session: AsyncSession) -> None:
    """A batch of new keys: tenders and publications COPied in, their ids made by the
    writer, and the same batch again is unchanged."""
    batch = [lot(i) for i in range(5)]
    assert await TenderService.upsert_many(db_session, batch) == UpsertCounts(inserted=5)
    assert await _staging_tables(db_session) == []
    stored = await db_session.execute(
        text(
            "SELECT t.identity_key, t.id IS NOT NULL, p.raw::text IS NOT NULL, t.created_at "
            "FROM tenders t JOIN publications p ON p.document_key = t.procedure_id "
            "ORDER BY t.identity_key"
        )
    )
    rows = stored.all()
    assert [row[0] for row in rows] == sorted(record.identity_key for record in batch)
    assert all(row[1] and row[2] and row[3] is not None for row in rows)
    assert await TenderService.upsert_many(db_session, batch) == UpsertCounts(unchanged=5)


async def test_a_batch_of_new_and_stored_keys_takes_both_paths(db_session: AsyncSession) -> None:
    await TenderService.upsert_many(db_session, [lot(1)])
    newer = lot(1, title="Gara 1, rettificata", source_updated_at=T0 + timedelta(days=1))
    counts = await TenderService.upsert_many(db_session, [newer, lot(2)])
    assert counts == UpsertCounts(inserted=1, updated=1)
    titles = await db_session.execute(text("SELECT title FROM tenders ORDER BY procedure_id"))
    assert list(titles.scalars()) == ["Gara 1, rettificata", "Gara 2"]


async def _waiting_for_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return bool(waiting)


@pytest.mark.parametrize("with_publication", [False, True], ids=["tender", "publication"])
@pytest.mark.parametrize("first_is_newer", [False, True], ids=["older-first", "newer-first"])
async def test_a_key_stored_between_the_pre_read_and_the_copy(
    engine_of_own: AsyncEngine, with_publication: bool, first_is_newer: bool
) -> None:
    """Writer A's pre-read finds key 1 absent while writer B holds it uncommitted; A's COPY
    waits for B, B commits, A's COPY is refused and undone, and A's batch goes through the
    upsert: key 1 ends with the newer version whichever writer had it, key 2 is A's, and
    every row and publication is there once."""
    sessions = async_sessionmaker(engine_of_own, expire_on_commit=False)
    raw = {"raw": {"ocid": "ocds-test00-1"}} if with_publication else {"raw": None}
    later = T0 + timedelta(days=1)
    b_at, a_at = (later, T0) if first_is_newer else (T0, later)
    by_b = lot(1, title="by B", source_updated_at=b_at, **raw)
    by_a = lot(1, title="by A", source_updated_at=a_at, **raw)
    async with sessions() as b, sessions() as a:
        await b.begin()
        assert await TenderService.upsert_many(b, [by_b]) == UpsertCounts(inserted=1)
        await a.begin()
        writing = asyncio.create_task(TenderService.upsert_many(a, [by_a, lot(2)]))
        await until(lambda: _waiting_for_a_lock(engine_of_own), 30, "A to wait for B's key")
        await b.commit()
        counts = await asyncio.wait_for(writing, 30)
        await a.commit()
    if first_is_newer:
        assert counts == UpsertCounts(inserted=1, unchanged=1)
    else:
        assert counts == UpsertCounts(inserted=1, updated=1)
    async with sessions() as check:
        titles = await check.execute(text("SELECT title FROM tenders ORDER BY procedure_id"))
        assert list(titles.scalars()) == ["by B" if first_is_newer else "by A", "Gara 2"]
        documents = await check.scalar(text("SELECT count(*) FROM publications"))
        assert documents == (2 if with_publication else 1)
