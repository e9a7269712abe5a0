from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Publication, Tender
from src.domain.tender.schemas import TenderCreate, TenderRecord, UpsertCounts, identity_key
from src.domain.tender.services import TenderService

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def record(cig: str | None = "1234567A0B", **changes: Any) -> TenderRecord:
    values: dict[str, Any] = {
        "source": "anac",
        "procedure_id": "ocds-hu01ve-1",
        "lot_id": cig,
        "cig": cig,
        "title": "Manutenzione del verde",
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "status": "active",
        "deadline_at": T0 + timedelta(days=30),
        "source_updated_at": T0,
        "raw": {"ocid": "ocds-hu01ve-1", "version": 1},
    }
    values.update(changes)
    return TenderRecord(**values)


async def stored(session: AsyncSession, cig: str = "1234567A0B") -> Tender:
    tender = await TenderService.get_by_cig(session, cig)
    assert tender is not None
    await session.refresh(tender)
    return tender


async def test_create_flushes_without_committing(db_session: AsyncSession) -> None:
    tender = await TenderService.create(db_session, TenderCreate(title="Seed", cig="12345"))
    assert db_session.in_transaction()
    assert (await TenderService.get_by_id(db_session, tender.id)) is tender
    assert (await TenderService.get_by_cig(db_session, "12345")) is tender
    assert tender.created_at is not None


async def test_cig_is_unique_and_empty_means_null(db_session: AsyncSession) -> None:
    first = await TenderService.create(db_session, TenderCreate(title="a", cig=""))
    second = await TenderService.create(db_session, TenderCreate(title="b", cig="  "))
    assert first.cig is None and second.cig is None
    await TenderService.create(db_session, TenderCreate(title="c", cig="X1"))
    with pytest.raises(IntegrityError):
        await TenderService.create(db_session, TenderCreate(title="d", cig="X1"))


async def test_upsert_is_idempotent(db_session: AsyncSession) -> None:
    batch = [record(), record("1234567A0C", title="Lotto 2")]
    assert await TenderService.upsert_many(db_session, batch) == UpsertCounts(inserted=2)
    assert await TenderService.upsert_many(db_session, batch) == UpsertCounts(unchanged=2)
    count = await db_session.scalar(select(func.count()).select_from(Tender))
    assert count == 2
    publications = await db_session.scalar(select(func.count()).select_from(Publication))
    assert publications == 1, "the raw publication is stored once per procedure"


async def test_newer_version_updates_and_older_never_regresses(db_session: AsyncSession) -> None:
    await TenderService.upsert_many(db_session, [record()])
    newer = record(deadline_at=T0 + timedelta(days=60), source_updated_at=T0 + timedelta(days=1))
    assert await TenderService.upsert_many(db_session, [newer]) == UpsertCounts(updated=1)
    older = record(status="cancelled", source_updated_at=T0 - timedelta(days=1))
    assert await TenderService.upsert_many(db_session, [older]) == UpsertCounts(unchanged=1)
    tender = await stored(db_session)
    assert tender.deadline_at == T0 + timedelta(days=60)
    assert tender.status == "active"


async def test_same_date_with_other_content_applies_a_corrected_mapping(
    db_session: AsyncSession,
) -> None:
    await TenderService.upsert_many(db_session, [record()])
    corrected = record(title="Manutenzione del verde pubblico")
    assert await TenderService.upsert_many(db_session, [corrected]) == UpsertCounts(updated=1)
    assert (await stored(db_session)).title == "Manutenzione del verde pubblico"


async def test_duplicate_keys_in_one_batch_keep_the_newest(db_session: AsyncSession) -> None:
    batch = [
        record(amount=Decimal(2), source_updated_at=T0 + timedelta(days=2)),
        record(amount=Decimal(1), source_updated_at=T0),
    ]
    counts = await TenderService.upsert_many(db_session, batch)
    assert counts == UpsertCounts(inserted=1, unchanged=1)
    assert (await stored(db_session)).amount == Decimal(2)


async def test_records_without_a_source_date_never_replace_dated_ones(
    db_session: AsyncSession,
) -> None:
    await TenderService.upsert_many(db_session, [record()])
    undated = record(title="undated", source_updated_at=None)
    assert await TenderService.upsert_many(db_session, [undated]) == UpsertCounts(unchanged=1)


async def test_non_anac_sources_key_by_procedure_and_lot(db_session: AsyncSession) -> None:
    lots = [
        record(cig=None, source="ted", procedure_id="folder-1", lot_id="LOT-0001"),
        record(cig=None, source="ted", procedure_id="folder-1", lot_id="LOT-0002"),
        record(cig=None, source="ted", procedure_id="folder-2", lot_id=None),
    ]
    assert await TenderService.upsert_many(db_session, lots) == UpsertCounts(inserted=3)
    keys = await db_session.scalars(select(Tender.identity_key).order_by(Tender.identity_key))
    assert list(keys) == ["ted:folder-1:LOT-0001", "ted:folder-1:LOT-0002", "ted:folder-2:"]


async def test_a_separator_inside_an_id_never_merges_two_lots(db_session: AsyncSession) -> None:
    """Procedure `A:B` lot `C` and procedure `A` lot `B:C` were one key (`ted:A:B:C`)."""
    lots = [
        record(cig=None, source="ted", procedure_id="A:B", lot_id="C"),
        record(cig=None, source="ted", procedure_id="A", lot_id="B:C"),
        record(cig=None, source="ted", procedure_id="A\\", lot_id=":C"),
        record(cig=None, source="ted", procedure_id="A", lot_id="\\:C"),
    ]
    assert await TenderService.upsert_many(db_session, lots) == UpsertCounts(inserted=4)
    keys = set(await db_session.scalars(select(Tender.identity_key)))
    assert keys == {"ted:A\\:B:C", "ted:A:B\\:C", "ted:A\\\\:\\:C", "ted:A:\\\\\\:C"}
    assert await TenderService.upsert_many(db_session, lots) == UpsertCounts(unchanged=4)


_PART = st.text(alphabet="a:\\", max_size=4)


@given(
    st.tuples(st.sampled_from(["ted", "ocds:x", "ocds:x:y", "a\\", "anac"]), _PART, _PART),
    st.tuples(st.sampled_from(["ted", "ocds:x", "ocds:x:y", "a\\", "anac"]), _PART, _PART),
)
def test_identity_keys_are_equal_only_for_the_same_lot(
    one: tuple[str, str, str], other: tuple[str, str, str]
) -> None:
    """Whatever separators and escape characters the parts hold; ANAC keys by CIG apart."""
    assert (identity_key(*one, None) == identity_key(*other, None)) == (one == other)
    assert identity_key(*one, None) != identity_key("anac", "p", None, "1234567A0B")


def test_title_falls_back_to_the_description_cut_at_a_word() -> None:
    long = "Servizio di manutenzione " * 20
    made = TenderRecord(source="anac", procedure_id="p", title="  ", description=long)
    assert made.title.endswith("…") and len(made.title) <= 201
    assert not made.title[:-1].endswith(" ")
    with pytest.raises(ValueError, match="title"):
        TenderRecord(source="anac", procedure_id="p", title="")
