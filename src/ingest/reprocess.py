"""Rebuilding tenders from the stored raw publications with the current mapping, so that a
mapping fix reaches old data without downloading anything again. Recorded as a run."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.request import IngestRequest
from src.domain.runs.services.run_service import RunService
from src.domain.tender.entities import Publication
from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.domain.tender.services import TenderService
from src.ingest.notices import merge_with_stored_notices
from src.readers import map_publication


async def reprocess(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    source: str | None = None,
    batch_size: int = 500,
) -> uuid.UUID:
    """Map every stored publication (of `source`, or all) again and upsert the result, one
    transaction per page of publications. Returns the run id (see `tenders runs`)."""
    run_id = uuid.uuid4()
    label = f"reprocess:{source or 'all'}"
    async with session_factory() as session, session.begin():
        request = IngestRequest(label, run_id=run_id)  # a new run: no attempt spent yet
        await RunService.start(session, request, job_id=None, max_attempts=1)
    after: uuid.UUID | None = None
    done = 0
    while True:
        async with session_factory() as session, session.begin():
            query = select(Publication).order_by(Publication.id).limit(batch_size)
            if source is not None:
                query = query.where(Publication.source == source)
            if after is not None:
                query = query.where(Publication.id > after)
            page = (await session.scalars(query)).all()
            if not page:
                break
            after = page[-1].id
            records: list[TenderRecord] = []
            rejected: list[RejectedRecord] = []
            for publication in page:
                for item in map_publication(
                    publication.format, publication.raw, source_url=publication.source_url
                ):
                    if isinstance(item, TenderRecord):
                        records.append(item)
                    else:
                        rejected.append(item)
            warnings = [(r.position, w) for r in records for w in r.warnings]
            merged = await merge_with_stored_notices(session, records)
            counts = await TenderService.upsert_many(session, merged, run_id=run_id)
            counts.unchanged += len(records) - len(merged)
            done += len(page)
            await RunService.record_batch(
                session,
                run_id,
                source=label,
                counts=counts,
                rejected=rejected,
                records_done=done,
                warnings=warnings,
            )
    async with session_factory() as session, session.begin():
        await RunService.finish(session, run_id)
    return run_id
