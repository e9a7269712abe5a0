"""`tenders reprocess` of eForms notices that are not UTF-8: rebuilding them from the stored
publication changes nothing (no mojibake, no false history, no rejection), and reading the
same file again after it changes nothing either."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.entities import IngestRun
from src.domain.tender.entities import Publication, Tender, TenderChange
from src.ingest.reprocess import reprocess
from tests.support.jobs import ingest_source
from tests.support.paths import FIXTURES

TITLE = "Lotto 1: mensa per l'università e la città di Paeseprova"


def notice(encoding: str) -> bytes:
    """The two-lot contract notice, its first lot's title accented, in `encoding`."""
    text = (FIXTURES / "eforms" / "cn_2lots_ita.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"', 1)
    text = text.replace("Lotto 1: mensa scolastica", TITLE, 1)
    return text.encode(encoding)


async def state(
    session: AsyncSession,
) -> tuple[list[tuple[str, str | None]], int, list[str]]:
    """The tenders (title, content hash), the history rows, the publications' hashes."""
    tenders = (await session.execute(select(Tender.title, Tender.content_hash))).all()
    changes = await session.scalar(select(func.count()).select_from(TenderChange))
    hashes = (await session.scalars(select(Publication.content_hash))).all()
    return sorted((t, h) for t, h in tenders), int(changes or 0), sorted(hashes)


async def run_counts(session: AsyncSession, run_id: uuid.UUID) -> tuple[int, int, int, int]:
    run = await session.get(IngestRun, run_id)
    assert run is not None and run.status == "complete", run and run.error
    return run.inserted, run.updated, run.unchanged, run.rejected


@pytest.mark.parametrize("encoding", ["iso-8859-1", "utf-16", "cp1252"])
async def test_reprocess_and_reingest_of_a_notice_not_in_utf8_change_nothing(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    encoding: str,
) -> None:
    source = tmp_path / "notice.xml"
    source.write_bytes(notice(encoding))
    first = await ingest_source(ctx, str(source))
    assert (first["inserted"], first["rejected"]) == (2, 0)
    ingested = await state(db_session)
    assert TITLE in [title for title, _ in ingested[0]]
    run_id = await reprocess(session_factory, source="ted")
    assert await run_counts(db_session, run_id) == (0, 0, 2, 0)
    assert await state(db_session) == ingested  # no mojibake, no history, no rewrite
    again = await ingest_source(ctx, str(source))
    assert (again["updated"], again["unchanged"], again["rejected"]) == (0, 2, 0)
    assert await state(db_session) == ingested


async def test_reprocess_of_a_notice_stored_with_its_old_declaration(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """Publications stored before kept the notice's own declaration (ISO-8859-1) in their
    text: reprocessing them still reads them right."""
    source = tmp_path / "notice.xml"
    source.write_bytes(notice("iso-8859-1"))
    await ingest_source(ctx, str(source))
    raw = await db_session.scalar(select(Publication.raw))
    assert raw is not None
    old = raw["xml"].replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1)
    await db_session.execute(update(Publication).values(raw={**raw, "xml": old}))
    tenders = (await state(db_session))[0]
    run_id = await reprocess(session_factory, source="ted")
    assert await run_counts(db_session, run_id) == (0, 0, 2, 0)
    assert (await state(db_session))[:2] == (tenders, 0)
