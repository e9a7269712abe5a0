"""One batch of a source's items, written in one transaction: the releases it stores, the
tenders, the rejections and the run's counts and checkpoint. When the database refuses data
in it (a value out of its range, a key too long to index: something the checks before the
write missed), the batch is written again in halves, down to the one item it refuses, which
becomes a rejection with the database's message; the rest of the batch is kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.services.run_service import PositionedWarning, RunService
from src.domain.tender.schemas import DocumentDigest, RejectedRecord, TenderRecord, UpsertCounts
from src.domain.tender.services import TenderService
from src.infra.errors import database_message, is_refused_data
from src.infra.streams import ReadPosition
from src.ingest.alerts.wake import DispatchSignal
from src.ingest.deps import run_log
from src.ingest.notices import merge_with_stored_notices
from src.ingest.prepare import BatchItem, PreparedDocument, the_one_item
from src.ingest.releases import resolve_releases
from src.ingest.write_policy import WritePolicy
from src.readers import (
    PendingRelease,
    ReadItem,
    UnmappedDocument,
    UnreadLine,
    map_document,
)

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class _Batch:
    """One batch of a source's items, sorted by what each still needs."""

    records: list[TenderRecord]
    rejected: list[RejectedRecord]
    documents: list[UnmappedDocument]
    releases: list[PendingRelease]
    prepared: list[PreparedDocument] = field(default_factory=list)
    unread: list[UnreadLine] = field(default_factory=list)
    warnings: list[PositionedWarning] = field(default_factory=list)

    @classmethod
    def of(cls, items: Sequence[BatchItem]) -> _Batch:
        batch = cls([], [], [], [])
        for item in items:
            batch.place(item)
        return batch

    def place(self, item: BatchItem) -> None:
        """An item in the list of what it still needs."""
        match item:
            case TenderRecord():
                self.records.append(item)
            case RejectedRecord():
                self.rejected.append(item)
            case UnmappedDocument():
                self.documents.append(item)
            case PendingRelease():
                self.releases.append(item)
            case PreparedDocument():
                self.prepared.append(item)
            case UnreadLine():
                self.unread.append(item)

    async def read_unknown(self, session: AsyncSession) -> int:
        """Parse the unread lines whose digest no stored publication has, into this batch
        (a document of such a line is mapped at once: its digest was just looked up); the
        others' tenders are stored and unchanged: returns how many."""
        if not self.unread:
            return 0
        known = await TenderService.known_digests(session, [line.digest for line in self.unread])
        skipped = 0
        for line in self.unread:
            count = known.get(line.digest)
            if count is not None:
                skipped += count
                continue
            for item in line.read():
                if isinstance(item, UnmappedDocument):
                    self.add_document(item.digest, map_document(item))
                else:
                    self.place(item)
        return skipped

    def add_document(self, document: DocumentDigest, mapped: Sequence[ReadItem]) -> None:
        """A document's tenders: remembered as read from its bytes only when none was
        rejected (so that a later run reads a document with a rejection again)."""
        clean = all(isinstance(item, TenderRecord) for item in mapped)
        self.add(mapped, digest=document.digest if clean else None)

    def add(self, items: Iterable[ReadItem], *, digest: str | None = None) -> None:
        for item in items:
            if isinstance(item, TenderRecord):
                if digest is not None:
                    item.source_digest = digest
                self.records.append(item)
            else:
                self.rejected.append(item)


async def _complete(session: AsyncSession, batch: _Batch, policy: WritePolicy) -> int:
    """Map what the readers handed on unfinished, with the database's state: documents whose
    bytes (with this mapping) were not stored before, and the merged state of every ocid the
    batch's releases touch; then leave out what the run may not write (as rejections). The
    tenders of known documents count as unchanged unmapped, and so do the records of notices
    merged into another record of their tender; returns that count. Documents mapped ahead
    of the transaction (`prepare`) are not mapped again."""
    skipped = await batch.read_unknown(session)
    documents: list[UnmappedDocument | PreparedDocument] = [*batch.documents, *batch.prepared]
    known = await TenderService.known_documents(session, [d.digest for d in documents])
    for document in documents:
        key = document.digest
        count = known.get((key.source, key.format, key.document_key))
        if count is not None:
            skipped += count
            continue
        if isinstance(document, PreparedDocument):
            batch.add_document(key, document.items)
        else:
            batch.add_document(key, map_document(document))
    if batch.releases:
        releases, refused = await policy.screen_releases(session, batch.releases)
        batch.rejected.extend(refused)
        batch.add(await resolve_releases(session, releases))
    batch.records, refused = await policy.screen_records(session, batch.records)
    batch.rejected.extend(refused)
    batch.warnings = [(r.position, w) for r in batch.records for w in r.warnings]
    read = len(batch.records)
    batch.records = await merge_with_stored_notices(session, batch.records)
    return skipped + read - len(batch.records)  # notices folded into another's state


@dataclass
class Written:
    counts: UpsertCounts
    rejected: int = 0

    def __add__(self, other: Written) -> Written:
        return Written(self.counts + other.counts, self.rejected + other.rejected)


@dataclass(frozen=True)
class Target:
    """Where a batch's outcome is written: its run (and chunk), under the run's source;
    `position` says how far in the source's bytes the reading is (the run's progress);
    `alerts` wakes the alert dispatcher after a batch that wrote events commits."""

    sessions: Sessions
    run_id: uuid.UUID
    location: str
    policy: WritePolicy
    chunk_id: uuid.UUID | None = None
    position: ReadPosition | None = None
    alerts: DispatchSignal | None = None


async def _write(target: Target, items: Sequence[BatchItem], records_done: int) -> Written:
    """The items in one transaction, with the run's counts and `records_done` checkpoint."""
    batch = _Batch.of(items)
    position = target.position
    async with target.sessions() as session, session.begin():
        skipped = await _complete(session, batch, target.policy)
        counts = await TenderService.upsert_many(
            session, batch.records, run_id=target.run_id, events=target.policy.events
        )
        counts.unchanged += skipped
        await RunService.record_batch(
            session,
            target.run_id,
            source=target.location,
            counts=counts,
            rejected=batch.rejected,
            records_done=records_done,
            chunk_id=target.chunk_id,
            warnings=batch.warnings,
            bytes_read=None if position is None else position.bytes_read(),
            bytes_total=None if position is None else position.total,
        )
    if counts.events and target.alerts is not None:
        await target.alerts.events_committed()  # never fails: the cron is the safety net
    return Written(counts, len(batch.rejected))


async def write_batch(
    target: Target, items: Sequence[BatchItem], *, done: int, checkpoint: bool = True
) -> Written:
    """Write `items`, the source's items after its first `done`. `checkpoint`: whether
    committing them moves the checkpoint past them (not for the parts of one item)."""
    end = done + len(items) if checkpoint else done
    try:
        return await _write(target, items, end)
    except StatementError as error:
        if not is_refused_data(error):
            raise
        refused = error
    if len(items) > 1:
        middle = len(items) // 2
        first = await write_batch(target, items[:middle], done=done, checkpoint=checkpoint)
        rest = done + middle if checkpoint else done
        return first + await write_batch(target, items[middle:], done=rest, checkpoint=checkpoint)
    return await _isolate(target, items[0], refused, done=done, end=end)


async def _isolate(
    target: Target, item: BatchItem, refused: StatementError, *, done: int, end: int
) -> Written:
    """The one item of a batch the database refused. A record is stored as a rejection; a
    document or a release is taken apart into its tenders, written one part at a time, and
    the checkpoint passes the item (`end`) once all its parts are written."""
    if isinstance(item, UnreadLine):
        item = the_one_item(item)
    if isinstance(item, UnmappedDocument | PreparedDocument):
        parts = list(map_document(item) if isinstance(item, UnmappedDocument) else item.items)
        for part in parts:
            if isinstance(part, TenderRecord):
                part.source_digest = None  # not known clean: read it again next time
        return await _write_parts(target, parts, done=done, end=end)
    if isinstance(item, PendingRelease):
        try:
            stored = await _store_release(target, item)
        except StatementError as error:
            if not is_refused_data(error):
                raise
            refused = error
        else:
            return await _write_parts(target, stored, done=done, end=end)
    if isinstance(item, RejectedRecord):
        raise refused  # even the rejection is refused: nothing here to take apart
    reason = f"the database refused this record: {database_message(refused)}"
    run_log(target.run_id, None).warning("%s: %s", item.position, reason)
    rejection = RejectedRecord.of(
        reason, item.position, item.hashed_fields() if isinstance(item, TenderRecord) else item.data
    )
    return await _write(target, [rejection], end)


async def _write_parts(
    target: Target, parts: Sequence[BatchItem], *, done: int, end: int
) -> Written:
    """The parts of one item, one at a time if need be; then the checkpoint passes it."""
    written = await write_batch(target, parts, done=done, checkpoint=False)
    return written + await _write(target, [], end)


async def _store_release(target: Target, release: PendingRelease) -> list[BatchItem]:
    """Store one release on its own and return its ocid's tenders, merged, to be written
    one part at a time (the stored release is idempotent: the next read finds it known)."""
    async with target.sessions() as session, session.begin():
        releases, refused = await target.policy.screen_releases(session, [release])
        return [*refused, *await resolve_releases(session, releases)]
