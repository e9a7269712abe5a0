"""Records in, committed batches out: one transaction per batch holds the tenders, the
rejections and the run's counts and checkpoint, so a crash loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.services.run_service import RunService
from src.domain.tender.schemas import RejectedRecord, TenderRecord, UpsertCounts
from src.domain.tender.services import TenderService
from src.ingest.releases import resolve_releases
from src.readers import PendingRelease, ReadItem, SourceItem, UnmappedDocument, map_document


@dataclass
class IngestTotals:
    counts: UpsertCounts
    rejected: int = 0
    records: int = 0


class UnreadableSourceError(ValueError):
    """The source broke before it gave a single record: the run fails with this message."""


def _take(items: Iterator[SourceItem], size: int) -> tuple[list[SourceItem], Exception | None]:
    """The next `size` items, and the error that stopped the reading before it had them all:
    the items read before an error are still written (then the error is raised)."""
    taken: list[SourceItem] = []
    try:
        for item in itertools.islice(items, size):
            taken.append(item)
    except Exception as error:  # noqa: BLE001 - handed to the caller, raised after the write
        return taken, error
    return taken, None


def guarded(items: Iterable[SourceItem]) -> Iterator[SourceItem]:
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


@dataclass
class _Batch:
    """One batch of a source's items, sorted by what each still needs."""

    records: list[TenderRecord]
    rejected: list[RejectedRecord]
    documents: list[UnmappedDocument]
    releases: list[PendingRelease]

    @classmethod
    def of(cls, items: list[SourceItem]) -> _Batch:
        batch = cls([], [], [], [])
        for item in items:
            match item:
                case TenderRecord():
                    batch.records.append(item)
                case RejectedRecord():
                    batch.rejected.append(item)
                case UnmappedDocument():
                    batch.documents.append(item)
                case PendingRelease():
                    batch.releases.append(item)
        return batch

    def add(self, items: Iterable[ReadItem], *, digest: str | None = None) -> None:
        for item in items:
            if isinstance(item, TenderRecord):
                if digest is not None:
                    item.source_digest = digest
                self.records.append(item)
            else:
                self.rejected.append(item)


async def _complete(session: AsyncSession, batch: _Batch) -> int:
    """Map what the readers handed on unfinished, with the database's state: documents whose
    bytes (with this mapping) were not stored before, and the merged state of every ocid the
    batch's releases touch. The tenders of known documents count as unchanged unmapped;
    returns that count."""
    known = await TenderService.known_documents(session, [d.digest for d in batch.documents])
    skipped = 0
    for document in batch.documents:
        key = document.digest
        count = known.get((key.source, key.format, key.document_key))
        if count is not None:
            skipped += count
            continue
        mapped = map_document(document)
        clean = all(isinstance(item, TenderRecord) for item in mapped)
        batch.add(mapped, digest=key.digest if clean else None)
    if batch.releases:
        batch.add(await resolve_releases(session, batch.releases))
    return skipped


async def ingest_items(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    items: Iterable[SourceItem],
    *,
    location: str,
    batch_size: int,
    resume_from: int = 0,
    already_done: int = 0,
    chunk_id: uuid.UUID | None = None,
) -> IngestTotals:
    """Write `items` in batches. Parsing the next batch (in a thread) overlaps the write of the
    current one. The first `resume_from` items were committed by an earlier attempt;
    `already_done` counts the run's items before this source (earlier pages)."""
    totals = IngestTotals(UpsertCounts(), records=already_done + resume_from)
    stream = guarded(items)
    if resume_from:
        await asyncio.to_thread(lambda: sum(1 for _ in itertools.islice(stream, resume_from)))
    # One parsing thread for the whole source: the reader is a generator (one thread at a
    # time), and a single thread keeps the allocator to one extra arena (flat memory).
    loop = asyncio.get_running_loop()
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader")
    next_batch = loop.run_in_executor(reader, _take, stream, batch_size)
    try:
        while True:
            items_read, failure = await next_batch
            if not items_read and failure is None:
                break
            if failure is None:
                next_batch = loop.run_in_executor(reader, _take, stream, batch_size)
            if items_read:
                await _write(session_factory, run_id, items_read, totals, location, chunk_id)
            if failure is not None:
                raise failure
    finally:
        # A thread cannot be cancelled: let it finish its slice so the reader is released.
        await asyncio.gather(next_batch, return_exceptions=True)
        reader.shutdown(wait=False)
    return totals


async def _write(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    items_read: list[SourceItem],
    totals: IngestTotals,
    location: str,
    chunk_id: uuid.UUID | None,
) -> None:
    """One batch in one transaction: its tenders, its rejections, the run's counts and
    checkpoint; `totals` adds it once it is committed."""
    batch = _Batch.of(items_read)
    async with session_factory() as session, session.begin():
        skipped = await _complete(session, batch)
        counts = await TenderService.upsert_many(session, batch.records, run_id=run_id)
        counts.unchanged += skipped
        await RunService.record_batch(
            session,
            run_id,
            source=location,
            counts=counts,
            rejected=batch.rejected,
            records_done=totals.records + len(items_read),
            chunk_id=chunk_id,
        )
    totals.counts += counts
    totals.rejected += len(batch.rejected)
    totals.records += len(items_read)
