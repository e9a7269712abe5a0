"""What a reader hands to the application layer: one declared union of data-only values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.domain.tender.schemas import DocumentDigest, RejectedRecord, TenderRecord

# A mapped tender (one lot), or an input item that could not be mapped.
ReadItem = TenderRecord | RejectedRecord


@dataclass(frozen=True, slots=True)
class PendingRelease:
    """An OCDS release (partial): its tender is the merge of every release of its ocid, so it
    is mapped only after the application layer has merged it with the stored ones."""

    ocid: str
    data: dict[str, Any]
    version: str
    position: str
    source_url: str | None


@dataclass(frozen=True, slots=True)
class UnmappedDocument:
    """A whole publication read as bytes but not mapped yet. If the same bytes were stored
    before with the same mapping (`digest.digest` covers both), its tenders cannot have
    changed and mapping is skipped; otherwise `readers.map_document` maps it."""

    digest: DocumentDigest
    data: dict[str, Any]
    position: str
    source_url: str | None
    # `data` as the JSON text it was read from, when that text can be stored as it is.
    data_json: str | None = None


@dataclass(frozen=True, slots=True)
class UnreadLine:
    """A JSON line not parsed (ReadHints.lines_unread): `digest` is what its document's digest
    would be (`DocumentDigest.digest`, bytes and mapping). A stored publication with that
    digest means the line's tenders are stored and unchanged; otherwise `read()` parses it
    into the one item it stands for."""

    digest: str
    position: str
    read: Callable[[], list[UnreadItem]]


UnreadItem = TenderRecord | RejectedRecord | PendingRelease | UnmappedDocument
SourceItem = TenderRecord | RejectedRecord | PendingRelease | UnmappedDocument | UnreadLine
