"""Records the database would refuse: caught before the write as rejections, or isolated from
their batch when the database refuses them anyway; the good records around them are kept
and the run completes, whole or split into chunks."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.domain.runs.entities import IngestRun, Rejection
from src.domain.runs.request import IngestRequest
from src.domain.tender.entities import Publication, Tender
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.ingest.pipeline import ingest_items
from src.ingest.write_policy import WritePolicy
from src.readers import SourceItem
from tests.support.jobs import ingest_source, run_chunks, with_settings

GOOD_BEFORE = GOOD_AFTER = 10


def _anac(index: int, **tender: Any) -> dict[str, Any]:
    """An ANAC compiled release with one lot (one tender)."""
    lot = {"id": f"{3000000 + index:07d}A0B", "value": {"amount": 1000 + index}}
    lot.update(tender.pop("lot", {}))
    return {
        "ocid": f"ocds-hu01ve-{index}",
        "id": f"r{index}",
        "date": tender.pop("date", "2025-01-01T00:00:00Z"),
        "tag": ["compiled"],
        "tender": {"description": f"Servizio {index}", "lots": [lot], **tender},
    }


def _incompressible(rng: random.Random, count: int, first: int, last: int) -> str:
    """Characters PostgreSQL cannot compress its way around (an index entry may be
    compressed before the size check: repeated characters would pass)."""
    return "".join(chr(rng.randint(first, last)) for _ in range(count))


def _deadline_after_9999() -> dict[str, Any]:
    return _anac(500, tenderPeriod={"endDate": "9999-12-31T23:30:00-05:00"})


def _date_before_year_1() -> dict[str, Any]:
    return _anac(500, date="0001-01-01T00:30:00+01:00")


def _key_over_the_index_limit() -> dict[str, Any]:
    """Procedure and lot ids of 450 characters each (the 500-character checks pass), in a
    script outside the BMP: 4 bytes each in UTF-8, 3,600 bytes of key."""
    rng = random.Random(7)
    ocid = "ocds-zzzzzz-" + _incompressible(rng, 450, 0x20000, 0x2A6DF)
    lot = {"id": _incompressible(rng, 450, 0x20000, 0x2A6DF), "title": "Lotto"}
    return {"ocid": ocid, "id": "r1", "date": "2025-01-01T00:00:00Z", "tag": ["compiled"],
            "tender": {"title": "Gara", "lots": [lot]}}  # fmt: skip


def _ocid_of_10_kb_in_the_release_store() -> dict[str, Any]:
    """A plain release (stored, then merged): its ocid is the release store's key."""
    rng = random.Random(8)
    ocid = "ocds-zzzzzz-" + _incompressible(rng, 10_000, 0x21, 0x7E)
    return {"ocid": ocid, "id": "r1", "date": "2025-01-01T00:00:00Z", "tag": ["tender"],
            "tender": {"title": "Gara"}}  # fmt: skip


def _nul_in_an_ocid() -> dict[str, Any]:
    """Not checked before the write: the database's refusal is isolated from the batch."""
    return {"ocid": "ocds-zzzzzz-1\u0000", "id": "r1", "date": "2025-01-01T00:00:00Z",
            "tag": ["compiled"], "tender": {"title": "Gara", "lots": [{"id": "1"}]}}  # fmt: skip


def _nul_in_a_release_ocid() -> dict[str, Any]:
    """The same in the release store: the release itself is refused."""
    return {**_nul_in_an_ocid(), "tag": ["tender"]}


@dataclass(frozen=True)
class Kind:
    bad: Callable[[], dict[str, Any]]
    reason: str  # in the stored rejection


KINDS = {
    "identity key over the index limit": Kind(_key_over_the_index_limit, "bytes"),
    "10 KB ocid in the release store": Kind(_ocid_of_10_kb_in_the_release_store, "bytes"),
    "NUL in an ocid": Kind(_nul_in_an_ocid, "the database refused this record: invalid byte"),
    "NUL in a release's ocid": Kind(_nul_in_a_release_ocid, "the database refused this record"),
}


# A date out of the column's range is one bad field: the tender is kept without it.
FIELD_KINDS = {
    "deadline past 9999 in UTC": (_deadline_after_9999, Tender.deadline_at),
    "date before year 1 in UTC": (_date_before_year_1, Tender.source_updated_at),
}


def _source(path: Path, bad: dict[str, Any]) -> Path:
    lines = [_anac(i) for i in range(GOOD_BEFORE)]
    lines += [bad]
    lines += [_anac(100 + i) for i in range(GOOD_AFTER)]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


async def _outcome(
    db_session: AsyncSession, run_id: str, bad_line: int = GOOD_BEFORE + 1
) -> tuple[IngestRun, int, list[str]]:
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None
    await db_session.refresh(run)
    stored = await db_session.scalar(select(func.count()).select_from(Tender))
    rejections = await db_session.execute(
        select(Rejection.reason, Rejection.position).where(Rejection.run_id == run.id)
    )
    reasons = []
    for reason, position in rejections:
        # Whole or split into chunks, the position is the line of the file.
        assert str(position).split(" lot ")[0] == f"line {bad_line}", position
        reasons.append(reason)
    return run, int(stored or 0), reasons


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("kind", list(KINDS))
async def test_a_record_the_database_would_refuse_costs_no_good_one(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, kind: str, chunked: bool
) -> None:
    source = _source(tmp_path / "mixed.jsonl", KINDS[kind].bad())
    if chunked:
        with_settings(ctx, chunk_min_bytes=1, chunk_bytes=1024, ingest_batch_size=50)
    else:
        with_settings(ctx, ingest_batch_size=50)  # the whole source in one batch
    run_id = str(uuid.uuid4())
    summary = await ingest_source(ctx, str(source), run_id=run_id)
    if chunked:
        assert summary["status"] == "split" and summary["chunks"] > 2
        await run_chunks(ctx, uuid.UUID(run_id))
    run, stored, reasons = await _outcome(db_session, run_id)
    assert (run.status, run.error) == ("complete", None)
    assert stored == GOOD_BEFORE + GOOD_AFTER
    assert (run.inserted, run.rejected) == (GOOD_BEFORE + GOOD_AFTER, 1)
    assert len(reasons) == 1 and KINDS[kind].reason in reasons[0], reasons


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("kind", list(FIELD_KINDS))
async def test_a_date_the_database_would_refuse_leaves_only_its_field_empty(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, kind: str, chunked: bool
) -> None:
    bad, column = FIELD_KINDS[kind]
    source = _source(tmp_path / "mixed.jsonl", bad())
    with_settings(ctx, chunk_min_bytes=1 if chunked else 1 << 40, chunk_bytes=1024)
    run_id = str(uuid.uuid4())
    summary = await ingest_source(ctx, str(source), run_id=run_id)
    if chunked:
        await run_chunks(ctx, uuid.UUID(run_id))
    else:
        assert summary["status"] == "complete"
    run, stored, _ = await _outcome(db_session, run_id)
    assert (run.status, run.inserted, run.rejected, stored) == ("complete", 21, 0, 21)
    kept = (await db_session.execute(select(column).where(Tender.cig == "3000500A0B"))).one()
    assert kept == (None,)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
async def test_an_amount_with_a_huge_exponent_is_quantised_to_the_column(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, chunked: bool
) -> None:
    """`1E-100000` is a number PostgreSQL cannot even receive; the column keeps 2 decimals,
    so it is stored as what the column would make of it: 0.00."""
    bad = _anac(500, lot={"value": {"amount": "1E-100000", "currency": "EUR"}})
    source = _source(tmp_path / "mixed.jsonl", bad)
    with_settings(ctx, chunk_min_bytes=1 if chunked else 1 << 40, chunk_bytes=1024)
    run_id = str(uuid.uuid4())
    summary = await ingest_source(ctx, str(source), run_id=run_id)
    if chunked:
        await run_chunks(ctx, uuid.UUID(run_id))
    else:
        assert summary["status"] == "complete"
    run, stored, reasons = await _outcome(db_session, run_id)
    assert (run.status, run.inserted, run.rejected, stored, reasons) == ("complete", 21, 0, 21, [])
    amount = await db_session.scalar(select(Tender.amount).where(Tender.cig == "3000500A0B"))
    assert amount == Decimal("0.00")


def _record(index: int, **fields: Any) -> TenderRecord:
    return TenderRecord(
        title=f"Gara {index}",
        source="ocds:ocds-test00",
        procedure_id=f"ocds-test00-{index}",
        lot_id="1",
        source_updated_at=datetime(2025, 1, 1, tzinfo=UTC),
        position=f"line {index}",
        raw={"ocid": f"ocds-test00-{index}"},
        **fields,
    )


async def test_a_record_refused_by_the_database_is_isolated_from_its_batch(
    session_factory: async_sessionmaker[AsyncSession], db_session: AsyncSession, settings: Settings
) -> None:
    """The safety net under the checks: a record no check caught (built here without
    validation) and that PostgreSQL refuses is found by halving its batch, stored as a
    rejection with the database's message, and the rest of the batch is written."""
    far = datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    bad = TenderRecord.model_construct(**{**_record(500).__dict__, "deadline_at": far})
    warned = RejectedRecord(reason="a reader's own rejection", position="line 99")
    items: list[SourceItem] = [
        *(_record(i) for i in range(GOOD_BEFORE)),
        bad,
        warned,
        *(_record(100 + i) for i in range(GOOD_AFTER)),
    ]
    async with session_factory() as session, session.begin():
        session.add(run := IngestRun(source="mixed", status="running"))
    policy = WritePolicy.of(IngestRequest("mixed"), settings)
    totals = await ingest_items(
        session_factory, run.id, iter(items), location="mixed", policy=policy, batch_size=100
    )
    assert (totals.counts.inserted, totals.rejected, totals.records) == (20, 2, 22)
    stored = await db_session.get(IngestRun, run.id)
    assert stored is not None
    await db_session.refresh(stored)
    assert (stored.inserted, stored.rejected, stored.records_done) == (20, 2, 22)
    rejections = {
        r.position: r.reason
        for r in await db_session.scalars(select(Rejection).where(Rejection.run_id == run.id))
    }
    assert rejections["line 99"] == "a reader's own rejection"
    assert rejections["line 500"].startswith("the database refused this record:")
    assert "out of range" in rejections["line 500"]


# Values no check caught, refused where the batch is written: by the COPY into the staging
# table (NUL), or by the upsert from it into `tenders` (the column's length and precision).
STAGED_REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "NUL in a title": ({"title": "Gara\x00"}, "invalid byte sequence"),
    "a CIG of 11 characters": ({"cig": "12345678901"}, "too long"),
    "an amount past numeric(18, 2)": ({"amount": Decimal("1e17")}, "numeric field overflow"),
}


@pytest.mark.parametrize("kind", list(STAGED_REFUSALS))
async def test_a_value_refused_by_the_staged_write_costs_only_its_record(
    session_factory: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    settings: Settings,
    kind: str,
) -> None:
    fields, message = STAGED_REFUSALS[kind]
    bad = TenderRecord.model_construct(**{**_record(500).__dict__, **fields})
    items: list[SourceItem] = [
        *(_record(i) for i in range(GOOD_BEFORE)),
        bad,
        *(_record(100 + i) for i in range(GOOD_AFTER)),
    ]
    async with session_factory() as session, session.begin():
        session.add(run := IngestRun(source="mixed", status="running"))
    policy = WritePolicy.of(IngestRequest("mixed"), settings)
    totals = await ingest_items(
        session_factory, run.id, iter(items), location="mixed", policy=policy, batch_size=100
    )
    assert (totals.counts.inserted, totals.rejected, totals.records) == (20, 1, 21)
    stored = await db_session.scalar(
        select(func.count()).select_from(Tender).where(Tender.source == "ocds:ocds-test00")
    )
    assert stored == 20
    reasons = list(
        await db_session.scalars(select(Rejection.reason).where(Rejection.run_id == run.id))
    )
    assert len(reasons) == 1 and reasons[0].startswith("the database refused this record:")
    assert message in reasons[0], reasons


async def test_a_refused_document_mapped_ahead_costs_no_good_one(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """Past the first batch of a fresh source, documents are mapped before their batch's
    transaction (and their parsed JSON let go): one the database refuses is taken apart from
    what it was mapped to, and every other tender and publication is stored."""
    with_settings(ctx, ingest_batch_size=50)
    before, after = 120, 30  # the bad line is in the third batch
    lines = [_anac(i) for i in range(before)] + [_nul_in_an_ocid()]
    lines += [_anac(1000 + i) for i in range(after)]
    source = tmp_path / "deep.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    run_id = str(uuid.uuid4())
    await ingest_source(ctx, str(source), run_id=run_id)
    run, stored, reasons = await _outcome(db_session, run_id, bad_line=before + 1)
    assert (run.status, run.inserted, run.rejected, stored) == (
        "complete",
        before + after,
        1,
        before + after,
    )
    assert len(reasons) == 1 and "the database refused this record" in reasons[0], reasons
    publications = await db_session.scalar(select(func.count()).select_from(Publication))
    assert publications == before + after
