"""Records in, committed batches out: one transaction per batch holds the tenders, the
rejections and the run's counts and checkpoint, so a crash loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.services.run_service import RunService
from src.domain.tender.schemas import (
    DeferredDocument,
    RejectedRecord,
    TenderRecord,
    UpsertCounts,
)
from src.domain.tender.services import TenderService

Item = TenderRecord | RejectedRecord
# Finishes what a reader could not alone (it needs stored state: OCDS releases to merge),
# inside the batch's transaction.
Resolver = Callable[[AsyncSession, Sequence[object]], Awaitable[Sequence[Item]]]


@dataclass
class IngestTotals:
    counts: UpsertCounts
    rejected: int = 0
    records: int = 0


class UnreadableSourceError(ValueError):
    """The source broke before it gave a single record: the run fails with this message."""


def _take(items: Iterator[object], size: int) -> list[object]:
    return list(itertools.islice(items, size))


def guarded(items: Iterator[object]) -> Iterator[object]:
    """A reader that breaks mid-way (truncated JSON, bad bytes) costs no good record: what it
    gave is kept, the break becomes a rejection. Broken before any record, it fails the run."""
    produced = 0
    try:
        for item in items:
            produced += 1
            yield item
    except ValueError as error:
        if produced == 0:
            raise UnreadableSourceError(str(error)) from error
        yield RejectedRecord(
            reason=f"the rest of the source could not be read: {error}",
            position=f"after record {produced}",
        )


async def _map_unknown_documents(
    session: AsyncSession,
    documents: list[DeferredDocument],
    records: list[TenderRecord],
    rejected: list[RejectedRecord],
) -> int:
    """Map the documents whose bytes (with this mapping) were not stored before; count the
    tenders of the others as unchanged without mapping them. Returns that count."""
    known = await TenderService.known_documents(session, documents)
    skipped = 0
    for document in documents:
        count = known.get((document.source, document.format, document.document_key))
        if count is not None:
            skipped += count
            continue
        built = document.build()
        clean = all(isinstance(item, TenderRecord) for item in built)
        for item in built:
            if isinstance(item, TenderRecord):
                if clean:
                    item.source_digest = document.digest
                records.append(item)
            else:
                rejected.append(item)
    return skipped


async def ingest_items(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    items: Iterator[object],
    *,
    source: str,
    batch_size: int,
    resume_from: int = 0,
    already_done: int = 0,
    resolve: Resolver | None = None,
    chunk_id: uuid.UUID | None = None,
) -> IngestTotals:
    """Write `items` in batches. Parsing the next batch (in a thread) overlaps the write of the
    current one. The first `resume_from` items were committed by an earlier attempt;
    `already_done` counts the run's items before this source (earlier pages)."""
    totals = IngestTotals(UpsertCounts(), records=already_done + resume_from)
    items = guarded(items)
    if resume_from:
        await asyncio.to_thread(lambda: sum(1 for _ in itertools.islice(items, resume_from)))
    # One parsing thread for the whole source: the reader is a generator (one thread at a
    # time), and a single thread keeps the allocator to one extra arena (flat memory).
    loop = asyncio.get_running_loop()
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader")
    next_batch = loop.run_in_executor(reader, _take, items, batch_size)
    try:
        while batch := await next_batch:
            next_batch = loop.run_in_executor(reader, _take, items, batch_size)
            records = [item for item in batch if isinstance(item, TenderRecord)]
            rejected = [item for item in batch if isinstance(item, RejectedRecord)]
            documents = [item for item in batch if isinstance(item, DeferredDocument)]
            pending = [
                i
                for i in batch
                if not isinstance(i, TenderRecord | RejectedRecord | DeferredDocument)
            ]
            async with session_factory() as session, session.begin():
                skipped = await _map_unknown_documents(session, documents, records, rejected)
                if pending:
                    if resolve is None:
                        raise TypeError(f"no resolver for {type(pending[0]).__name__}")
                    for item in await resolve(session, pending):
                        if isinstance(item, TenderRecord):
                            records.append(item)
                        else:
                            rejected.append(item)
                counts = await TenderService.upsert_many(session, records, run_id=run_id)
                counts.unchanged += skipped
                await RunService.record_batch(
                    session,
                    run_id,
                    source=source,
                    counts=counts,
                    rejected=rejected,
                    records_done=totals.records + len(batch),
                    chunk_id=chunk_id,
                )
            totals.counts += counts
            totals.rejected += len(rejected)
            totals.records += len(batch)
    finally:
        # A thread cannot be cancelled: let it finish its slice so the reader is released.
        await asyncio.gather(next_batch, return_exceptions=True)
        reader.shutdown(wait=False)
    return totals
