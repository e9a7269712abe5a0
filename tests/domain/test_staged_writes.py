"""Batches travel by binary COPY into staging tables: every value comes back as it went in
(text with the characters COPY's text format would escape, characters outside the BMP, the
ends of the numeric and timestamptz ranges), so a second write of the same batch is
unchanged; and the staging tables are left empty for the next batch of the transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Publication, Tender, TenderChange
from src.domain.tender.schemas import TenderRecord, UpsertCounts
from src.domain.tender.services import TenderService
from src.infra.errors import is_refused_data

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# What COPY's text format escapes or reads specially, what JSON escapes, and 4-byte UTF-8.
AWKWARD = (
    "tab\there, new\nline, cr\r, back\\slash, \\N, \\., quote' \" , "
    "\U0001d518\U0001d52b\U0001d526 \U0001f600 é"
)


def lot(index: int, **fields: Any) -> TenderRecord:
    values: dict[str, Any] = {
        "source": "ocds:ocds-test00",
        "procedure_id": f"ocds-test00-{index}",
        "lot_id": "1",
        "title": f"Gara {index}",
        "source_updated_at": T0,
        "raw": {"ocid": f"ocds-test00-{index}"},
    }
    values.update(fields)
    return TenderRecord(**values)


async def _tender(session: AsyncSession, record: TenderRecord) -> Tender:
    found = await session.scalar(select(Tender).where(Tender.identity_key == record.identity_key))
    assert found is not None
    await session.refresh(found)
    return found


async def test_awkward_text_survives_the_copy(db_session: AsyncSession) -> None:
    record = lot(
        1,
        procedure_id=f"ocds-test00-{AWKWARD}",
        lot_id=AWKWARD,
        title=AWKWARD,
        description=AWKWARD * 3,
        buyer_name=AWKWARD,
        supplier_name=AWKWARD,
        source_url=f"https://example.org/{AWKWARD}",
        raw={"ocid": AWKWARD, "nested": [AWKWARD, {"k\tk": "nul\x00here"}]},
    )
    assert await TenderService.upsert_many(db_session, [record]) == UpsertCounts(inserted=1)
    stored = await _tender(db_session, record)
    for name in ("procedure_id", "lot_id", "title", "description", "buyer_name"):
        assert getattr(stored, name) == getattr(record, name), name
    assert stored.supplier_name == AWKWARD and stored.source_url == record.source_url
    assert stored.content_hash == record.content_hash()
    raw = await db_session.scalar(select(Publication.raw))
    # NUL is the one character a JSON column cannot hold: dropped, as before the COPY.
    assert raw == {"ocid": AWKWARD, "nested": [AWKWARD, {"k\tk": "nulhere"}]}
    assert await TenderService.upsert_many(db_session, [record]) == UpsertCounts(unchanged=1)


EDGES: dict[str, dict[str, Any]] = {
    "largest amounts": {
        "amount": Decimal("9999999999999999.99"),
        "award_amount": Decimal("-9999999999999999.99"),
    },
    "amounts without cents, and the smallest": {
        "amount": Decimal("1000"),
        "award_amount": Decimal("0.01"),
    },
    "zero": {"amount": Decimal("0"), "award_amount": Decimal("-0.00")},
    "the first moments of year 1 in UTC": {
        "published_at": datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "awarded_at": datetime(
            1, 1, 1, 13, 59, 1, tzinfo=timezone(timedelta(hours=13, minutes=59))
        ),
    },
    "the last moments of 9999 in UTC": {
        "deadline_at": datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=UTC),
        "awarded_at": datetime(9999, 12, 31, 11, 59, 58, tzinfo=timezone(timedelta(hours=-12))),
    },
    "microseconds and far offsets": {
        "deadline_at": datetime(2025, 3, 30, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=14))),
        "source_updated_at": datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    },
}


@pytest.mark.parametrize("edge", list(EDGES))
async def test_values_at_the_edges_of_their_columns_survive(
    db_session: AsyncSession, edge: str
) -> None:
    record = lot(2, **EDGES[edge])
    assert await TenderService.upsert_many(db_session, [record]) == UpsertCounts(inserted=1)
    stored = await _tender(db_session, record)
    for name, value in EDGES[edge].items():
        if isinstance(value, datetime):
            # As the database keeps it, in UTC, to the microsecond.
            written = await db_session.scalar(
                text(f"SELECT ({name} AT TIME ZONE 'UTC')::text FROM tenders WHERE id = :id"),
                {"id": stored.id},
            )
            assert written == value.astimezone(UTC).replace(tzinfo=None).isoformat(" "), name
        else:
            assert getattr(stored, name) == value, name
    assert await TenderService.upsert_many(db_session, [record]) == UpsertCounts(unchanged=1)


@pytest.mark.xfail(strict=True, reason="asyncpg writes datetime.min/max as -infinity/infinity")
@pytest.mark.parametrize(
    "moment",
    [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)],
    ids=["first", "last"],
)
async def test_the_very_first_and_last_moments(db_session: AsyncSession, moment: datetime) -> None:
    """Known, and as it was before the COPY (the driver's codec does it for parameters too):
    the one first and one last microsecond a timestamptz shares with Python are stored as
    `-infinity` / `infinity`, and read back as naive datetimes."""
    record = lot(3, deadline_at=moment)
    await TenderService.upsert_many(db_session, [record])
    written = await db_session.scalar(
        text("SELECT deadline_at::text FROM tenders WHERE identity_key = :key"),
        {"key": record.identity_key},
    )
    assert "infinity" not in str(written)


async def _staged_rows(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for table in ("staging_tenders", "staging_publications"):
        if await session.scalar(text(f"SELECT to_regclass('pg_temp.{table}')")) is not None:
            counts[table] = await session.scalar(text(f"SELECT count(*) FROM pg_temp.{table}"))
    return counts


async def test_batches_of_one_transaction_never_see_each_others_rows(
    db_session: AsyncSession,
) -> None:
    """A savepoint's release is no commit: the staging tables are emptied as they are read,
    so each batch writes its own rows and counts only them, history included. (New rows
    skip staging: the first batch leaves nothing staged, if it made the tables at all.)"""
    first = [lot(i) for i in range(3)]
    assert await TenderService.upsert_many(db_session, first) == UpsertCounts(inserted=3)
    assert not any((await _staged_rows(db_session)).values())
    moved = lot(0, deadline_at=T0 + timedelta(days=9), source_updated_at=T0 + timedelta(days=1))
    second = [moved, lot(10)]
    counts = await TenderService.upsert_many(db_session, second)
    assert counts == UpsertCounts(inserted=1, updated=1)
    changes = list(await db_session.scalars(select(TenderChange.field)))
    assert changes == ["deadline_at"]
    assert await _staged_rows(db_session) == {"staging_tenders": 0, "staging_publications": 0}


REFUSED: dict[str, dict[str, Any]] = {
    "NUL in a title (refused by the COPY)": {"title": "Gara\x00"},
    "a CIG of 11 characters (refused by the write)": {"cig": "12345678901"},
    "an amount past numeric(18, 2) (refused by the write)": {"amount": Decimal("1e17")},
}


@pytest.mark.parametrize("kind", list(REFUSED))
async def test_a_value_the_database_refuses_is_refused_data(
    db_session: AsyncSession, kind: str
) -> None:
    """Records built without validation, as a check that missed would let through."""
    bad = TenderRecord.model_construct(**{**lot(5).__dict__, **REFUSED[kind]})
    with pytest.raises(StatementError) as caught:
        async with db_session.begin_nested():
            await TenderService.upsert_many(db_session, [lot(4), bad])
    assert is_refused_data(caught.value)
    async with db_session.begin_nested():
        assert await TenderService.upsert_many(db_session, [lot(4)]) == UpsertCounts(inserted=1)


@pytest.mark.parametrize("kind", list(REFUSED))
async def test_a_value_the_database_refuses_in_an_update_is_refused_data(
    db_session: AsyncSession, kind: str
) -> None:
    """The same values in a newer version of a stored tender (through staging and the
    upsert, not the COPY of new rows)."""
    async with db_session.begin_nested():
        await TenderService.upsert_many(db_session, [lot(5)])
    newer = {**lot(5).__dict__, "source_updated_at": T0 + timedelta(days=1), **REFUSED[kind]}
    bad = TenderRecord.model_construct(**newer)
    with pytest.raises(StatementError) as caught:
        async with db_session.begin_nested():
            await TenderService.upsert_many(db_session, [lot(4), bad])
    assert is_refused_data(caught.value)


async def test_a_large_publication_is_stored_compressed_with_lz4(db_session: AsyncSession) -> None:
    """Migration 0011 and the staging table agree: a publication big enough to be compressed
    is stored with lz4 (pglz on a server built without it) and reads back whole."""
    raw = {"ocid": "ocds-test00-9", "tender": {"description": "lavori di manutenzione " * 300}}
    record = lot(9, raw=raw)
    async with db_session.begin_nested():
        await TenderService.upsert_many(db_session, [record])
    row = (
        await db_session.execute(
            text(
                "SELECT pg_column_compression(raw), raw, "
                "(SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression') FROM publications "
                "WHERE document_key = :key"
            ),
            {"key": record.procedure_id},
        )
    ).one()
    method, stored, lz4 = row
    assert method == ("lz4" if lz4 else "pglz")
    assert stored == raw
