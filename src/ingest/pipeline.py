"""Records in, committed batches out: one transaction per batch holds the tenders, the
rejections and the run's counts and checkpoint, so a crash loses nothing and doubles nothing
(see `batches` for one batch, and a record the database refuses in it)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.tender.schemas import RejectedRecord, UpsertCounts
from src.infra.streams import ReadPosition
from src.ingest.alerts.wake import DispatchSignal
from src.ingest.batches import Target, Written, write_batch
from src.ingest.prepare import prepare, worth_mapping_ahead
from src.ingest.write_policy import WritePolicy
from src.readers import SourceItem
from src.readers.limits import ReadHints


@dataclass
class IngestTotals:
    counts: UpsertCounts
    rejected: int = 0
    records: int = 0

    def add(self, written: Written) -> UpsertCounts:
        self.counts += written.counts
        self.rejected += written.rejected
        return written.counts


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


async def ingest_items(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    items: Iterable[SourceItem],
    *,
    location: str,
    policy: WritePolicy,
    batch_size: int,
    resume_from: int = 0,
    already_done: int = 0,
    chunk_id: uuid.UUID | None = None,
    position: ReadPosition | None = None,
    alerts: DispatchSignal | None = None,
    hints: ReadHints | None = None,
) -> IngestTotals:
    """Write `items` in batches, committed one after another, in order; while the database
    writes batch n, a thread reads batch n+1 (JSON lines as bytes, past the first batch) and
    then `prepare` parses and maps it. The first `resume_from` items were committed by an
    earlier attempt; `already_done` counts the run's items before this source (earlier
    pages). `policy` says what the run may write; `position`, how far in the source's bytes
    the reading is (written with each batch); `alerts`, whom to wake after a batch that wrote
    alert events commits; `hints`, the reader's, told to leave lines unread past the first
    batch."""
    totals = IngestTotals(UpsertCounts(), records=already_done + resume_from)
    target = Target(session_factory, run_id, location, policy, chunk_id, position, alerts)
    stream = guarded(items)
    if resume_from:
        await asyncio.to_thread(lambda: sum(1 for _ in itertools.islice(stream, resume_from)))
    # One reading thread: the reader is a generator, and one thread keeps memory flat.
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader")
    try:
        await _Stages(target, stream, batch_size, reader, hints).run(totals)
    finally:
        reader.shutdown(wait=False)
    return totals


# Items in a source's first batch (at most the batch size).
FIRST_BATCH = 100


@dataclass
class _Stages:
    """The stages of `ingest_items` around one write in flight."""

    target: Target
    stream: Iterator[SourceItem]
    batch_size: int
    reader: ThreadPoolExecutor
    hints: ReadHints | None
    last: UpsertCounts | None = None  # what the last batch written did

    def read_next(self) -> asyncio.Future[tuple[list[SourceItem], Exception | None]]:
        if self.hints is not None:  # lines are parsed when needed, past the first batch
            self.hints.lines_unread = self.last is not None
        # The first batch is small, and written before the next is read: what it did (new
        # tenders, or stored ones) decides how the rest of the source is read.
        size = self.batch_size if self.last is not None else min(self.batch_size, FIRST_BATCH)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.reader, _take, self.stream, size)

    async def run(self, totals: IngestTotals) -> None:
        next_batch = self.read_next()
        writing: asyncio.Task[Written] | None = None
        try:
            while True:
                items_read, failure = await next_batch
                prepared = await prepare(items_read, map_ahead=worth_mapping_ahead(self.last))
                if writing is not None:
                    self.last = totals.add(await writing)
                    writing = None
                if prepared:
                    done = totals.records
                    totals.records += len(items_read)
                    writing = asyncio.create_task(write_batch(self.target, prepared, done=done))
                    if self.last is None:
                        self.last = totals.add(await writing)
                        writing = None
                if failure is not None or not items_read:
                    break
                # Read from here on, beside the write: two batches in memory, not three.
                next_batch = self.read_next()
            if writing is not None:
                totals.add(await writing)
                writing = None
            if failure is not None:
                raise failure
        finally:
            if writing is not None:  # mapping failed: that write is rolled back, done again
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            # A thread cannot be cancelled: let it finish its slice so the reader is released.
            await asyncio.gather(next_batch, return_exceptions=True)
