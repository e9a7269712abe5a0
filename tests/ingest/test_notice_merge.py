"""A tender published as a sequence of notices is the merge of them all, field by field: an
eForms award notice (no deadline, no estimate) keeps the contract notice's deadline and
estimate, in whatever order the notices arrive, and `tenders reprocess` rebuilds the same."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Publication, Tender, TenderChange
from src.domain.tender.schemas import TenderRecord
from src.ingest.reprocess import reprocess
from tests.support.jobs import ingest_source
from tests.support.paths import FIXTURES

NOTICES = {
    name: FIXTURES / "eforms" / f"{name}_2lots_ita.xml" for name in ("cn", "change-cn", "can")
}
FIELDS = (
    "lot_id",
    "title",
    "status",
    "amount",
    "deadline_at",
    "published_at",
    "award_amount",
    "supplier_name",
    "awarded_at",
    "source_updated_at",
)


async def rows(session: AsyncSession) -> list[tuple[Any, ...]]:
    found = await session.execute(
        select(*(getattr(Tender, name) for name in FIELDS)).order_by(Tender.lot_id)
    )
    return [tuple(row) for row in found]


async def ingest_in_order(ctx: dict[str, Any], tmp_path: Path, names: tuple[str, ...]) -> None:
    for name in names:
        copy = tmp_path / f"{name}.xml"  # each from its own file, as a feed hands them over
        copy.write_bytes(NOTICES[name].read_bytes())
        counts = await ingest_source(ctx, str(copy))
        assert counts["rejected"] == 0, counts


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("order", [("cn", "can"), ("can", "cn")], ids="-then-".join)
async def test_a_contract_notice_and_its_award_give_one_state_in_either_order(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, order: tuple[str, ...]
) -> None:
    await ingest_in_order(ctx, tmp_path, order)
    lot1, lot2 = await rows(db_session)
    state = dict(zip(FIELDS, lot1, strict=True))
    # from the contract notice: the deadline, the estimate, the first publication
    assert state["deadline_at"] == moment("2024-04-15T12:00:00+02:00")
    assert state["amount"] == Decimal("200000.50")
    assert state["published_at"] == moment("2024-03-01T09:30:00+01:00")
    # from the award notice: the award, the winner, the status, the version
    assert state["status"] == "complete"
    assert state["award_amount"] == Decimal("185000")
    assert state["supplier_name"]
    assert state["source_updated_at"] == moment("2024-06-25T10:00:00+02:00")
    assert dict(zip(FIELDS, lot2, strict=True))["deadline_at"] == moment(
        "2024-04-20T23:59:59+02:00"
    )
    nulled = await db_session.scalars(
        select(TenderChange.field).where(TenderChange.new_value.is_(None))
    )
    assert nulled.all() == []  # no "deadline: <date> -> null" for anyone to be told about
    stored = await db_session.scalars(
        select(Publication.document_key).where(Publication.source == "ted")
    )
    assert len(stored.all()) == 2  # every notice kept


async def test_three_notices_in_every_order_give_the_same_rows(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """The change notice moves lot 2's deadline; every order of CN, change, CAN gives the
    same rows, and reprocessing them rewrites nothing."""
    states = []
    for order in itertools.permutations(NOTICES):
        await db_session.execute(delete(Tender))
        await db_session.execute(delete(Publication))
        await db_session.commit()
        await ingest_in_order(ctx, tmp_path, order)
        states.append(await rows(db_session))
    assert all(state == states[0] for state in states), states
    lot2 = dict(zip(FIELDS, states[0][1], strict=True))
    assert lot2["deadline_at"] == moment("2024-05-06T12:00:00+02:00")  # the change notice's
    assert lot2["published_at"] == moment("2024-03-01T09:30:00+01:00")  # the first notice's
    run_id = await reprocess(session_factory, source="ted")
    run = await db_session.get_one(IngestRun, run_id)
    assert (run.inserted, run.updated, run.rejected) == (0, 0, 0)
    assert await rows(db_session) == states[0]


async def test_reprocess_repairs_a_row_the_old_mapping_left_without_its_deadline(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """Before the merge, the award notice replaced the row: deadline null, published at the
    award's date. `tenders reprocess` brings such a database to the merged state."""
    await ingest_in_order(ctx, tmp_path, ("cn", "can"))
    merged = await rows(db_session)
    await db_session.execute(
        update(Tender).values(
            deadline_at=None, published_at=moment("2024-06-25T00:00:00+02:00"), content_hash="old"
        )
    )
    await db_session.commit()
    run_id = await reprocess(session_factory, source="ted")
    run = await db_session.get_one(IngestRun, run_id)
    assert (run.inserted, run.updated, run.rejected) == (0, 2, 0)
    assert await rows(db_session) == merged


async def test_two_jobs_writing_notices_of_one_procedure_at_once_lose_nothing(
    fresh_database_url: str,
) -> None:
    """The award notice's batch waits for the contract notice's to commit, then merges with
    it: without the lock, each would merge without the other and the award, being newer,
    would win with no deadline."""
    from configs.config import Settings
    from src.domain.tender.services import TenderService
    from src.infra.database import create_engine, create_session_factory
    from src.ingest.notices import merge_with_stored_notices
    from src.readers.eforms import read_eforms

    def records(name: str) -> list[TenderRecord]:
        with NOTICES[name].open("rb") as stream:
            return [r for r in read_eforms(stream) if isinstance(r, TenderRecord)]

    engine = create_engine(Settings(database_url=fresh_database_url))
    sessions = create_session_factory(engine)

    async def write(name: str, started: asyncio.Event | None = None) -> None:
        async with sessions() as session, session.begin():
            merged = await merge_with_stored_notices(session, records(name))
            if started is not None:
                started.set()
                await asyncio.sleep(0.5)  # the other job starts meanwhile
            await TenderService.upsert_many(session, merged)

    try:
        started = asyncio.Event()
        first = asyncio.create_task(write("cn", started))
        await started.wait()
        second = asyncio.create_task(write("can"))
        await asyncio.gather(first, second)
        async with sessions() as session:
            deadlines = (await session.scalars(select(Tender.deadline_at))).all()
            statuses = set((await session.scalars(select(Tender.status))).all())
        assert None not in deadlines and len(deadlines) == 2
        assert "active" not in statuses  # both lots carry the award notice's outcome
    finally:
        await engine.dispose()
