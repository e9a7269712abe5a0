"""Broken and hostile input: each gets a clear error or a stored rejection, and every good
record of the same source is still ingested."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import IngestRun, Rejection
from src.domain.tender.entities import Publication, Tender
from src.infra.sources import SourceError
from src.infra.streams import SizeLimitExceededError
from src.ingest.pipeline import UnreadableSourceError
from src.readers.fields import MAX_FIELD_WARNINGS
from tests.support.jobs import ingest_source, with_settings
from tests.support.paths import FIXTURES


def line(index: int, **tender: Any) -> dict[str, Any]:
    lots = tender.pop("lots", [{"id": f"{5000000 + index:07d}AAA", "status": "active"}])
    return {
        "ocid": f"ocds-hu01ve-{index}",
        "id": f"r{index}",
        "date": "2025-01-01T00:00:00Z",
        "tag": ["compiled"],
        "tender": {"id": str(index), "description": f"Good {index}", "lots": lots, **tender},
    }


def good(index: int) -> str:
    return json.dumps(line(index))


async def reasons(session: AsyncSession, run_id: str, kind: str = "record") -> list[str]:
    """The reasons of a run's rejections (`record`) or of its field warnings (`field`)."""
    query = select(Rejection.reason).where(
        Rejection.run_id == uuid.UUID(run_id), Rejection.kind == kind
    )
    return list((await session.scalars(query)).all())


async def test_a_mix_of_broken_records_costs_no_good_one(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    ten_mb = "x" * (10 * 1024 * 1024)
    bad_lines = [
        json.dumps(line(2, value={"amount": {"nested": 1}, "currency": "EUR"})),  # wrong type
        json.dumps({"id": "no-ocid", "tag": ["compiled"], "tender": {}}),  # missing ocid
        json.dumps(line(3, value={"amount": "1.234,50", "currency": "EUR"})),  # number as text
        json.dumps(line(4, tenderPeriod={"endDate": "31/02/2025 25:99"})),  # invalid date
        json.dumps(line(5, description=ten_mb)),  # a 10 MB string
        json.dumps(line(6, description="nul\u0000inside", title="tit\u0000le")),  # NULs
        json.dumps(line(7, lots=[{"id": "5000001AAA"}, {"id": "5000001aaa "}])),  # duplicate
        json.dumps(line(8, lots=[{"id": "12345"}])),  # an invalid CIG
        json.dumps(line(9, value={"amount": 1e30, "currency": "EUR"})),  # out of range
        '{"ocid": "ocds-hu01ve-10", "tender": "not an object", "tag": ["compiled"]}',
    ]
    lines = [good(1), *bad_lines, good(11), good(12)[:40]]  # ends in a truncated line
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(lines))
    summary = await ingest_source(ctx, str(source))
    assert summary["status"] == "complete"
    run = summary["run_id"]
    found = await reasons(db_session, run)
    text = " | ".join(found)
    for expected in (
        "release has no ocid",
        "invalid CIG '12345'",
        "line 13 is not valid JSON: unexpected end of data",
    ):
        assert expected in text, (expected, found)
    stored = {t.cig: t for t in (await db_session.scalars(select(Tender))).all()}
    # The good ones, the number written as text, the NULs cleaned, one of the duplicates; and
    # those with one bad field (an amount of the wrong type or out of range, an invalid
    # date, a 10 MB description): kept, that field left empty (a field warning).
    assert {"5000001AAA", "5000003AAA", "5000006AAA", "5000011AAA"} <= set(stored)
    assert stored["5000003AAA"].amount == 1234.5
    assert stored["5000006AAA"].title == "title"
    assert stored["5000002AAA"].amount is None and stored["5000009AAA"].amount is None
    assert stored["5000004AAA"].deadline_at is None
    assert stored["5000005AAA"].description is None
    assert stored["5000005AAA"].title.startswith("xxx")
    assert summary["rejected"] == len(found) >= 4
    warned = {reason.split(":", 1)[0] for reason in await reasons(db_session, run, "field")}
    assert {"amount", "deadline_at", "description"} <= warned
    raw = await db_session.scalar(
        select(Publication.raw).where(Publication.procedure_id == "ocds-hu01ve-6")
    )
    assert raw is not None and "\u0000" not in json.dumps(raw)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b'{"title": "hello"}', "not OCDS"),
        (b'{"ocid": "ocds-x-1", "tender": {"title": "caf\xe8"}}', "not UTF-8"),
        (b"\x00\x01\x02binary", "cannot tell the format"),
    ],
)
async def test_unreadable_sources_fail_their_run_with_a_clear_message(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "bad.json"
    source.write_bytes(content)
    run_id = str(uuid.uuid4())
    # an empty file is refused as it is opened, the others once the pipeline reads them
    with pytest.raises((SourceError, UnreadableSourceError), match=message):
        await ingest_source(ctx, str(source), run_id=run_id)
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed" and message in (run.error or "")


@pytest.mark.parametrize("name", ["xxe.xml", "billion_laughs.xml"])
async def test_xml_with_entities_or_a_dtd_is_refused(
    ctx: dict[str, Any], db_session: AsyncSession, name: str
) -> None:
    summary = await ingest_source(ctx, str(FIXTURES / "eforms" / name), format="eforms")
    assert (summary["inserted"], summary["rejected"]) == (0, 1)
    reason = (await reasons(db_session, summary["run_id"]))[0]
    assert "DOCTYPE" in reason or "DTD" in reason


async def test_a_gzip_bomb_stops_at_the_limit(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.json.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        out.write(b'{"releases": [' + b" " * (64 * 1024 * 1024))
    assert bomb.stat().st_size < 200_000
    with_settings(ctx, max_decompressed_bytes=8 * 1024 * 1024)
    run_id = str(uuid.uuid4())
    with pytest.raises(SizeLimitExceededError, match="decompression bomb"):
        await ingest_source(ctx, str(bomb), run_id=run_id)
    run = await db_session.get(IngestRun, uuid.UUID(run_id))
    assert run is not None and run.status == "failed"
    assert await db_session.scalar(select(func.count()).select_from(Tender)) == 0


async def test_the_json_limits_are_settings_the_job_passes_to_the_readers(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """MAX_JSON_DEPTH and MAX_OBJECT_BYTES: an item past either is a rejection of its own."""
    deep = line(2, extra=[[[[[[["nine levels deep"]]]]]]])
    large = line(3, description="x" * 5000)
    source = tmp_path / "limits.jsonl"
    source.write_text("\n".join(json.dumps(item) for item in (line(1), deep, large, line(4))))
    with_settings(ctx, max_json_depth=8, max_object_bytes=4096)
    summary = await ingest_source(ctx, str(source))
    assert (summary["status"], summary["inserted"], summary["rejected"]) == ("complete", 2, 2)
    assert sorted(await reasons(db_session, summary["run_id"])) == [
        "line 2 is nested deeper than 8 levels (MAX_JSON_DEPTH): not read",
        "line 3 is larger than 4096 bytes (MAX_OBJECT_BYTES): not read "
        "(a single publication this size is broken input)",
    ]


async def test_awards_naming_every_lot_give_each_tender_a_bounded_number_of_warnings(
    ctx: dict[str, Any], db_session: AsyncSession, tmp_path: Path
) -> None:
    """A release whose every award names every lot, none with a value that can be read: each
    lot would carry a warning per award (lots x awards rows; a 41 MB release of 3,000 took a
    worker past 2 GB, and it died). Each tender keeps MAX_FIELD_WARNINGS and one saying how
    many more there were; the good line beside it is ingested, and the counts add up."""
    lots = awards = MAX_FIELD_WARNINGS + 5
    cigs = [f"{6000000 + n:07d}AAA" for n in range(lots)]
    framework = line(2, lots=[{"id": cig, "status": "active"} for cig in cigs])
    framework["awards"] = [
        {"id": f"A{n}", "status": "active", "relatedLots": cigs, "value": {"amount": f"x{n}"}}
        for n in range(awards)
    ]
    source = tmp_path / "framework.jsonl"
    source.write_text("\n".join([good(1), json.dumps(framework), good(3)]))
    summary = await ingest_source(ctx, str(source))
    assert (summary["status"], summary["inserted"], summary["rejected"]) == ("complete", 27, 0)
    warned = await reasons(db_session, summary["run_id"], "field")
    run = await db_session.get(IngestRun, uuid.UUID(summary["run_id"]))
    assert run is not None and len(warned) == lots * (MAX_FIELD_WARNINGS + 1) == run.warnings
    assert sum(reason.startswith("award_amount:") for reason in warned) == lots * 20
    assert (
        warned.count(
            "warnings: 5 more field warnings of this record not kept (fields: award_amount)"
        )
        == lots
    )
