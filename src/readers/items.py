"""What a reader hands to the application layer: one declared union of data-only values."""

from __future__ import annotations

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


SourceItem = TenderRecord | RejectedRecord | PendingRelease | UnmappedDocument
