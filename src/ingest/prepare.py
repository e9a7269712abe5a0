"""A batch made ready before its turn to be written: while the batch before it is in the
database, the documents of this one are parsed (JSON lines left unread by the reader) and
mapped. Mapping is the larger part of the worker's work on a fresh ingest; done here, it
overlaps the database's work on the previous batch instead of holding a transaction open
while it runs. A document's parsed JSON is let go once mapped: a batch waits for its write
as its lines' bytes, then as records (which keep a JSON line's text, to be stored).

Mapping ahead is a guess: a document stored before from the same bytes (with the same
mapping) is not mapped at all, and whether it was is known only in the write's transaction,
which decides (the mapped tenders of a known document are dropped). So documents are mapped
ahead only while the source's batches are mostly new: a fresh ingest overlaps, a re-ingest of
what is stored maps nothing it does not need."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from src.domain.tender.schemas import DocumentDigest, UpsertCounts
from src.readers import (
    ReadItem,
    SourceItem,
    UnmappedDocument,
    UnreadItem,
    UnreadLine,
    map_document,
)

# How long mapping may hold the event loop before it lets the write of the previous batch
# take its replies from the database (a document maps in about a tenth of a millisecond).
_SLICE_SECONDS = 0.002


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document mapped ahead of its batch's transaction, to `items`: its parsed JSON is let
    go once mapped (the records keep what is stored of it)."""

    digest: DocumentDigest
    items: tuple[ReadItem, ...]


BatchItem = SourceItem | PreparedDocument


def worth_mapping_ahead(last: UpsertCounts | None) -> bool:
    """Whether the last batch written was mostly new or changed tenders."""
    return last is not None and last.inserted + last.updated > last.unchanged


async def prepare(items: Sequence[SourceItem], *, map_ahead: bool) -> list[BatchItem]:
    """`items`, with each unread line parsed and each unmapped document mapped when
    `map_ahead`. Lets the event loop run every few milliseconds, so that the write in flight
    is not held up."""
    if not map_ahead:
        return list(items)
    prepared: list[BatchItem] = []
    resume_at = time.monotonic() + _SLICE_SECONDS
    for read in items:
        item = the_one_item(read) if isinstance(read, UnreadLine) else read
        if not isinstance(item, UnmappedDocument):
            prepared.append(item)
            continue
        prepared.append(PreparedDocument(item.digest, tuple(map_document(item))))
        if time.monotonic() >= resume_at:
            await asyncio.sleep(0)
            resume_at = time.monotonic() + _SLICE_SECONDS
    return prepared


def the_one_item(line: UnreadLine) -> UnreadItem:
    """The item an unread line stands for (a line that could give several is never left
    unread: see `readers.ocds_walk.one_item_line`)."""
    items = line.read()
    if len(items) != 1:
        raise RuntimeError(f"{line.position} gave {len(items)} items where one was expected")
    return items[0]
