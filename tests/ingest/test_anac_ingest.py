"""ANAC's PVL notices and its per-CIG detail API response through the real job: every lot is
a row or a rejection, a second pass and `tenders reprocess` change nothing, and the formats of
one CIG share its row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Tender
from src.ingest.reprocess import reprocess
from tests.support.jobs import ingest_source
from tests.support.paths import FIXTURES, require_shared_data

ANAC = FIXTURES / "anac"


async def count(session: AsyncSession, entity: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


async def test_pvl_notices_are_ingested_once_and_reprocessed_unchanged(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    first = await ingest_source(ctx, str(ANAC / "pvl_notices.json"))
    assert first["status"] == "complete", first
    # 12 lot items: 10 records (of 5 CIGs) and 2 rejections (no lot CIG, an invalid CIG)
    assert first["rejected"] == 2
    assert first["inserted"] + first["updated"] + first["unchanged"] == 10
    assert (
        await count(db_session, Tender) == 4 + 0
    )  # 9100001A01, 9100002B02, B1234567AB, 9100004D04
    keys = set((await db_session.scalars(select(Tender.identity_key))).all())
    assert keys == {"anac:9100001A01", "anac:9100002B02", "anac:B1234567AB", "anac:9100004D04"}
    again = await ingest_source(ctx, str(ANAC / "pvl_notices.json"))
    assert (again["inserted"], again["updated"], again["rejected"]) == (0, 0, 2)
    run_id = await reprocess(session_factory, source="anac")
    run = await db_session.get(IngestRun, run_id)
    assert run is not None and run.status == "complete", run and run.error
    assert (run.inserted, run.updated) == (0, 0)


async def test_detail_api_response_and_real_pvl_capture_re_ingest_unchanged(
    ctx: dict[str, Any], db_session: AsyncSession
) -> None:
    api = await ingest_source(ctx, str(ANAC / "cig_detail_api_raw.json"))
    assert (api["status"], api["inserted"], api["rejected"]) == ("complete", 1, 0)
    row = await db_session.scalar(select(Tender).where(Tender.cig == "9000008B2C"))
    assert row is not None and row.supplier_name == "CAPOGRUPPO SPA; MANDANTE UNO SRL"
    for name in ("anac_pvl_notices_sample.json", "anac_cig_detail_api_raw_918052266A.json"):
        path = require_shared_data("anac", name)
        first = await ingest_source(ctx, str(path))
        assert first["status"] == "complete" and first["rejected"] == 0, first
        again = await ingest_source(ctx, str(path))
        assert (again["inserted"], again["updated"], again["rejected"]) == (0, 0, 0), name
