"""COPY into a staging table: inside the caller's transaction (or savepoint), emptied at
commit, and what the database or the driver refuses is a statement error that the batch
writer recognises as refused data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from src.infra.database.staging import StagingTable, copy_to_staging, new_ids
from src.infra.errors import database_message, is_refused_data

STAGING = StagingTable(
    "staging_test", (("label", "text"), ("at", "timestamptz"), ("amount", "numeric(18, 2)"))
)
ROW = ("a", datetime(2025, 1, 1, tzinfo=UTC), Decimal("1.50"))


async def _staged(session: AsyncSession | AsyncConnection) -> list[Any]:
    return list((await session.execute(text(f"SELECT * FROM {STAGING.qualified}"))).all())


async def _exists(connection: AsyncConnection) -> bool:
    found = await connection.scalar(text(f"SELECT to_regclass('{STAGING.qualified}')"))
    return found is not None


async def _copy_then_fail(connection: AsyncConnection) -> None:
    async with AsyncSession(bind=connection) as session, session.begin():
        await copy_to_staging(session, STAGING, [ROW])
        assert await _staged(session) == [ROW]
        raise RuntimeError("roll back")


async def test_rows_are_staged_inside_the_callers_transaction(engine: AsyncEngine) -> None:
    """The COPY as the first thing in a transaction still belongs to it (asyncpg begins a
    transaction lazily): rolled back with it, and the table is emptied at commit."""
    async with engine.connect() as connection:
        with pytest.raises(RuntimeError, match="roll back"):
            await _copy_then_fail(connection)
        async with connection.begin():
            assert not await _exists(connection), "created in the rolled-back transaction"

        async with AsyncSession(bind=connection) as session, session.begin():
            await copy_to_staging(session, STAGING, [ROW, ROW])
        async with connection.begin():
            assert await _exists(connection) and await _staged(connection) == []

        async with AsyncSession(bind=connection) as session, session.begin():
            await copy_to_staging(session, STAGING, [ROW])  # the table is there: reused
            assert await _staged(session) == [ROW]


async def _stage_twice_in_a_savepoint(
    session: AsyncSession, first: list[tuple[Any, ...]], second: list[tuple[Any, ...]]
) -> None:
    async with session.begin_nested():
        await copy_to_staging(session, STAGING, first)
        await copy_to_staging(session, STAGING, second)


async def test_staging_works_inside_a_savepoint(db_session: AsyncSession) -> None:
    """Tests run in an outer transaction, their units of work in savepoints: a savepoint
    rolled back takes its staged rows with it."""
    with pytest.raises(StatementError):
        await _stage_twice_in_a_savepoint(db_session, [ROW], [("b", None, Decimal("1e17"))])
    async with db_session.begin_nested():
        await copy_to_staging(db_session, STAGING, [ROW])
        assert await _staged(db_session) == [ROW]


REFUSED = {
    # The server refuses these (a SQLSTATE of class 22) ...
    "NUL in text": (("nul\x00", None, None), "invalid byte sequence"),
    "numeric overflow": (("big", None, Decimal("1e16")), "numeric field overflow"),
    # ... the driver cannot even encode this one: refused data too (SQLSTATE 22000).
    "timestamp past 9999 in UTC": (
        ("late", datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))), None),
        "out of range",
    ),
}


@pytest.mark.parametrize("kind", list(REFUSED))
async def test_a_refused_value_is_a_statement_error_of_refused_data(
    db_session: AsyncSession, kind: str
) -> None:
    row, message = REFUSED[kind]
    with pytest.raises(StatementError) as caught:
        async with db_session.begin_nested():
            await copy_to_staging(db_session, STAGING, [ROW, row])
    assert is_refused_data(caught.value)
    assert message in database_message(caught.value)
    assert "COPY pg_temp.staging_test" in str(caught.value)
    async with db_session.begin_nested():  # the session goes on
        await copy_to_staging(db_session, STAGING, [ROW])
        assert await _staged(db_session) == [ROW]


async def test_a_bad_value_never_shows_its_row_in_the_error(db_session: AsyncSession) -> None:
    """The rows may be whole publications: parameters stay out of the message."""
    with pytest.raises(StatementError) as caught:
        async with db_session.begin_nested():
            await copy_to_staging(db_session, STAGING, [("secret-ish\x00", None, None)])
    assert "secret-ish" not in str(caught.value)


COMPRESSED = StagingTable("staging_compressed", (("doc", "jsonb"),), compressed=frozenset({"doc"}))
# Big enough to be compressed (over the 2 kB toast threshold), and compressible.
LARGE_DOCUMENT = '{"text": "' + "ribasso d'asta " * 400 + '"}'


async def _lz4_available(session: AsyncSession) -> bool:
    methods = await session.scalar(
        text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    )
    return "lz4" in (methods or [])


async def test_compressed_columns_use_lz4_where_the_server_has_it(
    db_session: AsyncSession,
) -> None:
    """A whole publication is compressed once, in staging, and keeps that compression when
    it moves on: the staging column takes lz4 when the server was built with it, pglz when
    not."""
    async with db_session.begin_nested():
        await copy_to_staging(db_session, COMPRESSED, [(LARGE_DOCUMENT,)])
        method = await db_session.scalar(
            text(f"SELECT pg_column_compression(doc) FROM {COMPRESSED.qualified}")
        )
    assert method == ("lz4" if await _lz4_available(db_session) else "pglz")
    async with db_session.begin_nested():
        await copy_to_staging(db_session, STAGING, [ROW])  # no compressed column: as before
        assert await _staged(db_session) == [ROW]


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(10_000)
    assert len(set(ids)) == 10_000 and new_ids(0) == []
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids)
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    # As uuid.UUID compares and hashes them (ids read back from the database are those).
    assert {uuid.UUID(str(i)) for i in ids} == set(ids)
