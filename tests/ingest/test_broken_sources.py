"""Broken sources through the real job: a truncated gzip keeps every whole record before its
break, batched or not, and a broken archive member costs only itself; the counts add up."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun, Rejection
from src.domain.tender.entities import Tender
from tests.support.archives import (
    anac_cigs,
    anac_lines,
    complete_lines,
    gzipped,
    readable_gzip,
    with_bad_crc,
    write_zip,
)
from tests.support.jobs import ingest_source, with_settings


async def rejections(session: AsyncSession, run_id: str) -> list[tuple[str | None, str]]:
    query = select(Rejection.position, Rejection.reason).where(
        Rejection.run_id == uuid.UUID(run_id)
    )
    return [(position, reason) for position, reason in (await session.execute(query)).all()]


async def stored_cigs(session: AsyncSession) -> set[str]:
    return {cig for cig in (await session.scalars(select(Tender.cig))).all() if cig}


async def test_a_truncated_gzip_keeps_every_whole_record_of_a_batched_run(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    compressed = gzipped(anac_lines(tmp_path, 5000))
    truncated = compressed[: len(compressed) * 7 // 10]
    whole = complete_lines(readable_gzip(truncated))
    assert 1000 < whole < 5000 and whole % 1000 != 0  # the break falls inside a batch
    source = tmp_path / "monthly.jsonl.gz"
    source.write_bytes(truncated)
    with_settings(ctx, ingest_batch_size=1000)
    summary = await ingest_source(ctx, str(source))
    assert summary["status"] == "complete"
    assert (summary["inserted"], summary["rejected"]) == (2 * whole, 1)
    assert await stored_cigs(db_session) == anac_cigs(whole)
    [(position, reason)] = await rejections(db_session, summary["run_id"])
    assert position == f"after record {whole}"
    assert reason.startswith("the rest of the source could not be read: monthly.jsonl.gz breaks")
    assert "truncated" in reason
    run = await db_session.get(IngestRun, uuid.UUID(summary["run_id"]))
    assert run is not None and run.records_done == whole + 1  # every item: a row or a rejection


async def test_broken_zip_members_cost_only_themselves(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    members = {
        "2024-01.jsonl": anac_lines(tmp_path, 300),
        "2024-02.json": b'{"not": "ocds"}',
        "2024-03.jsonl": anac_lines(tmp_path, 300, first=300),
    }
    archive = with_bad_crc(write_zip(tmp_path / "anac.zip", members), "2024-01.jsonl")
    with_settings(ctx, ingest_batch_size=1000)
    summary = await ingest_source(ctx, str(archive))
    assert summary["status"] == "complete"
    stored = await stored_cigs(db_session)
    assert anac_cigs(300, first=300) <= stored  # the member after the broken ones, whole
    first_member = stored - anac_cigs(300, first=300)
    assert len(first_member) >= 2 * (300 - 8)  # a bad CRC costs the bytes of its last read
    found = dict(await rejections(db_session, summary["run_id"]))
    assert set(found) == {
        f"anac.zip!2024-01.jsonl: after record {len(first_member) // 2}",
        "anac.zip!2024-02.json: after record 0",
    }
    assert "Bad CRC-32" in found[f"anac.zip!2024-01.jsonl: after record {len(first_member) // 2}"]
    assert "is not OCDS" in found["anac.zip!2024-02.json: after record 0"]
    inserted = await db_session.scalar(select(func.count()).select_from(Tender))
    assert (summary["inserted"], summary["rejected"]) == (inserted, 2)


async def test_csv_max_record_lines_reaches_the_reader(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    source = tmp_path / "cig.csv"
    source.write_text(
        "CIG;oggetto_lotto;data_pubblicazione\n"
        "9000001A0B;Carta;2024-03-01\n"
        '9000002A0B;"Carta:\nA4 e A3\nrisme";2024-03-01\n'
        "9000003A0B;Toner;2024-03-01\n"
    )
    within = await ingest_source(ctx, str(source))
    assert (within["inserted"], within["rejected"]) == (3, 0)
    with_settings(ctx, csv_max_record_lines=2)
    over = await ingest_source(ctx, str(source))
    assert (over["unchanged"], over["rejected"]) == (2, 3)  # the field's three lines
    [(position, reason), *_] = sorted(await rejections(db_session, over["run_id"]))
    assert position == "line 3" and "runs over more than 2 lines" in reason
