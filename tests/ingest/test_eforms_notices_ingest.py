"""eForms notices through the real job: every notice of a procedure is a publication of its
own (a CN and its CAN both kept, so the state can be rebuilt in any order), re-ingests change
nothing, and the eForms SDK examples ingest twice to 0 inserted / 0 updated."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Publication, Tender, TenderChange
from tests.support.jobs import ingest_source
from tests.support.paths import FIXTURES

EFORMS = FIXTURES / "eforms"
CN, CAN = EFORMS / "cn_2lots_gbr.xml", EFORMS / "can_2lots_gbr.xml"


async def publications(session: AsyncSession) -> list[tuple[str, str, str]]:
    rows = await session.execute(
        select(Publication.procedure_id, Publication.document_key, Publication.format).where(
            Publication.source == "ted"
        )
    )
    return sorted((p, d, f) for p, d, f in rows)


async def test_a_cn_and_its_can_are_two_publications_of_one_procedure(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    first = await ingest_source(ctx, str(CN))
    second = await ingest_source(ctx, str(CAN))
    assert (first["inserted"], first["rejected"]) == (2, 0)
    assert (second["inserted"], second["rejected"]) == (0, 0)
    folder = "00000000-fold-4000-b000-0000000000bb"
    assert await publications(db_session) == [
        (folder, "00000000-test-4000-b000-000000000011-01", "eforms"),
        (folder, "00000000-test-4000-b000-000000000012-01", "eforms"),
    ]
    for path in (CN, CAN):
        again = await ingest_source(ctx, str(path))
        assert (again["inserted"], again["updated"], again["rejected"]) == (0, 0, 0)
    assert len((await db_session.scalars(select(Tender).where(Tender.source == "ted"))).all()) == 2


@pytest.mark.parametrize("order", [(CN, CAN), (CAN, CN)])
async def test_cn_and_can_in_either_order_give_one_merged_row(
    ctx: dict[str, Any], db_session: AsyncSession, order: tuple[Path, Path]
) -> None:
    for path in order:
        await ingest_source(ctx, str(path))
    rows = {
        t.lot_id: t
        for t in (await db_session.scalars(select(Tender).where(Tender.source == "ted")))
    }
    won = rows["LOT-0001"]
    assert won.deadline_at is not None and won.amount is not None  # from the CN
    assert won.supplier_name == "Example Roadworks Ltd" and won.status == "complete"  # the CAN
    assert rows["LOT-0002"].status == "unsuccessful"
    changes = (await db_session.scalars(select(TenderChange))).all()
    assert all(change.new_value is not None for change in changes)


async def test_every_sample_notice_ingests_twice_to_nothing_new(
    ctx: dict[str, Any], db_session: AsyncSession, shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "eforms"
    shutil.copytree(shared_data / "eforms", folder)  # a copy to read, never into the repo
    notices = sorted(folder.glob("*.xml"))
    first = [await ingest_source(ctx, str(path)) for path in notices]
    assert [run["rejected"] for run in first] == [0] * len(notices)
    again = [await ingest_source(ctx, str(path)) for path in notices]
    assert [(run["inserted"], run["updated"], run["rejected"]) for run in again] == [
        (0, 0, 0)
    ] * len(notices)
    assert len(await publications(db_session)) == len(notices)  # each notice kept
