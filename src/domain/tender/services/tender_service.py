"""Writes and reads of tenders. Services take the session first, add and flush, never commit:
the caller owns the unit of work."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.serialization import json_serializer
from src.domain.tender.entities import Tender, TenderChange
from src.domain.tender.schemas import (
    HASHED_FIELDS,
    TRACKED_FIELDS,
    UNHASHED_FIELDS,
    DocumentDigest,
    TenderCreate,
    TenderRecord,
    UpsertCounts,
    identity_key,
)
from src.domain.tender.schemas import content_hash as hash_document
from src.domain.tender.services.bulk import as_arrays, new_ids, upsert_statement

_NEVER = datetime(1900, 1, 1, tzinfo=UTC)


def _version(value: datetime | None) -> datetime:
    return value if value is not None else _NEVER


def _needs_write(
    previous: tuple[str | None, datetime] | None, digest: str, incoming: datetime | None
) -> bool:
    """The rule of `bulk.NEWER_OR_CHANGED`, on a batch's pre-read: unchanged costs a read."""
    if previous is None:
        return True
    stored_digest, stored_at = previous
    incoming_at = _version(incoming)
    return incoming_at > stored_at or (incoming_at == stored_at and digest != stored_digest)


def _latest_per_key(records: Sequence[TenderRecord]) -> list[TenderRecord]:
    """One record per identity key (the newest; the later one on a tie), sorted by key so that
    concurrent writers lock rows in the same order."""
    latest: dict[str, TenderRecord] = {}
    for record in records:
        key = record.identity_key
        kept = latest.get(key)
        if kept is None or _version(record.source_updated_at) >= _version(kept.source_updated_at):
            latest[key] = record
    return [latest[key] for key in sorted(latest)]


class TenderService:
    @staticmethod
    async def create(session: AsyncSession, data: TenderCreate) -> Tender:
        tender = Tender(**data.model_dump())
        if data.source and data.procedure_id:
            tender.identity_key = identity_key(
                data.source, data.procedure_id, data.lot_id, data.cig
            )
        session.add(tender)
        await session.flush()
        await session.refresh(tender)
        return tender

    @staticmethod
    async def get_by_id(session: AsyncSession, tender_id: uuid.UUID) -> Tender | None:
        return await session.get(Tender, tender_id)

    @staticmethod
    async def get_by_cig(session: AsyncSession, cig: str) -> Tender | None:
        result = await session.execute(select(Tender).where(Tender.cig == cig.strip().upper()))
        return result.scalar_one_or_none()

    @staticmethod
    async def known_documents(
        session: AsyncSession, documents: Sequence[DocumentDigest]
    ) -> dict[tuple[str, str, str], int]:
        """Of these documents, those stored from the same bytes with the same mapping (and
        without rejections): their key and how many tenders they gave."""
        if not documents:
            return {}
        rows = await session.execute(
            _KNOWN_DOCUMENTS,
            {
                "sources": [d.source for d in documents],
                "formats": [d.format for d in documents],
                "keys": [d.document_key for d in documents],
                "digests": [d.digest for d in documents],
            },
        )
        return {(source, fmt, key): count for source, fmt, key, count in rows}

    @staticmethod
    async def source_url_outside(
        session: AsyncSession, source: str, url_patterns: Sequence[str]
    ) -> str | None:
        """The `source_url` of one stored tender of namespace `source` that matches none of
        the LIKE `url_patterns` ("" for a tender stored without one), or None when every
        stored tender of it matches (or there is none)."""
        found = await session.execute(
            _SOURCE_URL_OUTSIDE, {"source": source, "patterns": list(url_patterns)}
        )
        row = found.first()
        return None if row is None else str(row[0])

    @staticmethod
    async def store_publications(session: AsyncSession, records: Sequence[TenderRecord]) -> None:
        """Store the raw publications of `records` (once per document, newest version wins);
        `upsert_many` does it for the records it is given."""
        await _upsert_publications(session, records)

    @staticmethod
    async def upsert_many(
        session: AsyncSession,
        records: Sequence[TenderRecord],
        *,
        run_id: uuid.UUID | None = None,
    ) -> UpsertCounts:
        """Insert new tenders, update those whose source version is newer (or equal with other
        content), and write nothing for the rest. Idempotent; never regresses a row. Changes of
        tracked fields are recorded as history, with the run that made them."""
        if not records:
            return UpsertCounts()
        batch = _latest_per_key(records)
        counts = UpsertCounts(unchanged=len(records) - len(batch))
        await _upsert_publications(session, batch)

        rows = [_tender_row(record) for record in batch]
        stored = await session.execute(
            _STORED_TENDERS, {"keys": [row["identity_key"] for row in rows]}
        )
        known = {key: (digest, _version(at)) for key, digest, at in stored}
        to_write = [
            row
            for row in rows
            if _needs_write(
                known.get(row["identity_key"]), row["content_hash"], row["source_updated_at"]
            )
        ]
        counts.unchanged += len(rows) - len(to_write)
        if not to_write:
            return counts

        before = await _lock_tracked(
            session, [r["identity_key"] for r in to_write if r["identity_key"] in known]
        )
        for row, new_id in zip(to_write, new_ids(len(to_write)), strict=True):
            row["id"] = new_id
        written = (
            await session.execute(_TENDER_UPSERT, as_arrays(to_write, _TENDER_COLUMNS))
        ).all()
        inserted = sum(1 for row in written if row.inserted)
        counts.inserted += inserted
        counts.updated += len(written) - inserted
        # Rows that lost a race to a newer version written meanwhile were not written.
        counts.unchanged += len(to_write) - len(written)
        by_key = {row["identity_key"]: row for row in to_write}
        changes = [
            change
            for row in written
            if not row.inserted and row.identity_key in before
            for change in _changes(
                row.id, before[row.identity_key], by_key[row.identity_key], run_id
            )
        ]
        if changes:
            await session.execute(sa_insert(TenderChange), changes)
        return counts


async def _lock_tracked(session: AsyncSession, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The tracked fields of rows about to be updated, locked (in key order, as every writer
    locks) so that the history compares with exactly what is replaced."""
    if not keys:
        return {}
    columns = [getattr(Tender, name) for name in TRACKED_FIELDS]
    result = await session.execute(
        select(Tender.identity_key, *columns)
        .where(Tender.identity_key.in_(keys))
        .order_by(Tender.identity_key)
        .with_for_update()
    )
    return {row[0]: dict(zip(TRACKED_FIELDS, row[1:], strict=True)) for row in result}


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def _changes(
    tender_id: uuid.UUID, old: dict[str, Any], new: dict[str, Any], run_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "tender_id": tender_id,
            "field": name,
            "old_value": _as_text(old[name]),
            "new_value": _as_text(new[name]),
            "source_updated_at": new["source_updated_at"],
            "run_id": run_id,
        }
        for name in TRACKED_FIELDS
        if old[name] != new[name]
    ]


_TEXT = "text"
_TIME = "timestamptz"
_COLUMN_TYPES = {
    "amount": "numeric",
    "award_amount": "numeric",
    "published_at": _TIME,
    "deadline_at": _TIME,
    "awarded_at": _TIME,
    "source_updated_at": _TIME,
}
_TENDER_COLUMNS = [
    ("id", "uuid"),
    ("identity_key", _TEXT),
    *((name, _COLUMN_TYPES.get(name, _TEXT)) for name in (*HASHED_FIELDS, *UNHASHED_FIELDS)),
    ("content_hash", _TEXT),
]
_TENDER_UPSERT = upsert_statement(
    "tenders",
    _TENDER_COLUMNS,
    conflict="(identity_key)",
    updated=[name for name, _ in _TENDER_COLUMNS if name not in ("id", "identity_key")],
    returning="stored.id, stored.identity_key, (stored.xmax = 0) AS inserted",
)
_PUBLICATION_COLUMNS = [
    ("id", "uuid"),
    ("source", _TEXT),
    ("procedure_id", _TEXT),
    ("document_key", _TEXT),
    ("format", _TEXT),
    ("raw", "jsonb"),
    ("content_hash", _TEXT),
    ("source_updated_at", _TIME),
    ("source_url", _TEXT),
    ("source_digest", _TEXT),
    ("record_count", "integer"),
]
# The pre-reads: one array parameter each, however large the batch.
_STORED_TENDERS = text(
    "SELECT identity_key, content_hash, source_updated_at FROM tenders "
    "WHERE identity_key = ANY(CAST(:keys AS text[]))"
)
_SOURCE_URL_OUTSIDE = text(
    "SELECT coalesce(source_url, '') FROM tenders WHERE source = :source "
    "AND NOT coalesce(source_url, '') LIKE ANY(CAST(:patterns AS text[])) LIMIT 1"
)
_STORED_PUBLICATIONS = text(
    "SELECT p.source, p.format, p.document_key, p.content_hash, p.source_updated_at "
    "FROM publications p JOIN unnest(CAST(:sources AS text[]), CAST(:formats AS text[]), "
    "CAST(:keys AS text[])) AS k(source, format, document_key) "
    "USING (source, format, document_key)"
)
_KNOWN_DOCUMENTS = text(
    "SELECT p.source, p.format, p.document_key, p.record_count "
    "FROM publications p JOIN unnest(CAST(:sources AS text[]), CAST(:formats AS text[]), "
    "CAST(:keys AS text[]), CAST(:digests AS text[])) AS k(source, format, document_key, digest) "
    "USING (source, format, document_key) "
    "WHERE p.source_digest = k.digest AND p.record_count IS NOT NULL"
)
_PUBLICATION_UPSERT = upsert_statement(
    "publications",
    _PUBLICATION_COLUMNS,
    conflict="ON CONSTRAINT uq_publications_source_format_document_key",
    updated=[
        "procedure_id",
        "raw",
        "content_hash",
        "source_updated_at",
        "source_url",
        "source_digest",
        "record_count",
    ],
)


def _tender_row(record: TenderRecord) -> dict[str, Any]:
    row = record.hashed_fields()
    digest = hash_document(row)  # the same as record.content_hash(), without a second copy
    for name in UNHASHED_FIELDS:
        row[name] = getattr(record, name)
    row["identity_key"] = record.identity_key
    row["content_hash"] = digest
    return row


async def _upsert_publications(session: AsyncSession, batch: Sequence[TenderRecord]) -> None:
    """Store each procedure's raw publication once (lots share it), newest version wins."""
    documents: dict[tuple[str, str, str], dict[str, Any]] = {}
    hashes: dict[int, str] = {}
    lots: Counter[tuple[str, str, str]] = Counter()
    for record in batch:
        if record.raw is None:
            continue
        digest = hashes.get(id(record.raw))
        if digest is None:
            digest = hashes[id(record.raw)] = hash_document(record.raw)
        if record.source_digest is not None:
            # The stored hash covers the bytes' digest too: a new digest rewrites the row once.
            digest = hash_document([digest, record.source_digest])
        key = (record.source, record.format, record.document_key or record.procedure_id)
        lots[key] += 1
        kept = documents.get(key)
        if kept is None or _version(record.source_updated_at) >= _version(
            kept["source_updated_at"]
        ):
            documents[key] = {
                "source": record.source,
                "procedure_id": record.procedure_id,
                "document_key": key[2],
                "format": record.format,
                "raw": record.raw,
                "content_hash": digest,
                "source_updated_at": record.source_updated_at,
                "source_url": record.source_url,
                "source_digest": record.source_digest,
            }
    if not documents:
        return
    for key, document in documents.items():
        document["record_count"] = lots[key] if document["source_digest"] else None
    sources, formats, keys = (list(part) for part in zip(*documents, strict=True))
    stored = await session.execute(
        _STORED_PUBLICATIONS, {"sources": sources, "formats": formats, "keys": keys}
    )
    known = {(src, fmt, doc): (digest, _version(at)) for src, fmt, doc, digest, at in stored}
    to_write = [
        documents[key]
        for key in sorted(documents)
        if _needs_write(
            known.get(key), documents[key]["content_hash"], documents[key]["source_updated_at"]
        )
    ]
    if not to_write:
        return
    for document, new_id in zip(to_write, new_ids(len(to_write)), strict=True):
        document["id"] = new_id
        document["raw"] = json_serializer(document["raw"])
    await session.execute(_PUBLICATION_UPSERT, as_arrays(to_write, _PUBLICATION_COLUMNS))
