"""Writes and reads of tenders. Services take the session first, add and flush, never commit:
the caller owns the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import insert as sa_insert
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.services.outbox import record_events
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
from src.domain.tender.services.bulk import (
    insert_new,
    needs_write,
    upsert_from_staging,
    version,
)
from src.domain.tender.services.publications import upsert_publications
from src.infra.database.staging import StagingTable, copy_to_staging, new_ids


def _latest_per_key(records: Sequence[TenderRecord]) -> dict[str, TenderRecord]:
    """One record per identity key (the newest; the later one on a tie), by key in sorted
    order so that concurrent writers lock rows in the same order."""
    latest: dict[str, TenderRecord] = {}
    for record in records:
        key = record.identity_key
        kept = latest.get(key)
        if kept is None or version(record.source_updated_at) >= version(kept.source_updated_at):
            latest[key] = record
    return {key: latest[key] for key in sorted(latest)}


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
    async def known_digests(session: AsyncSession, digests: Sequence[str]) -> dict[str, int]:
        """Of these document digests (bytes and mapping), those a stored publication was read
        from without rejections: each with how many tenders it gave. By digest alone, so
        a document is known before it is parsed (`readers.UnreadLine`)."""
        if not digests:
            return {}
        rows = await session.execute(_KNOWN_DIGESTS, {"digests": list(digests)})
        return {digest: count for digest, count in rows}

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
        await upsert_publications(session, records)

    @staticmethod
    async def upsert_many(
        session: AsyncSession,
        records: Sequence[TenderRecord],
        *,
        run_id: uuid.UUID | None = None,
        events: bool = True,
    ) -> UpsertCounts:
        """Insert new tenders, update those whose source version is newer (or equal with other
        content), and write nothing for the rest. Idempotent; never regresses a row. Changes of
        tracked fields are recorded as history, with the run that made them, and (unless not
        `events`: a quiet run) as alert events in the same transaction."""
        if not records:
            return UpsertCounts()
        latest = _latest_per_key(records)
        counts = UpsertCounts(unchanged=len(records) - len(latest))
        await upsert_publications(session, list(latest.values()))

        rows = [_tender_row(record, key) for key, record in latest.items()]
        stored = await session.execute(
            _STORED_TENDERS, {"keys": [row["identity_key"] for row in rows]}
        )
        known = {key: (digest, version(at)) for key, digest, at in stored}
        to_write = [
            row
            for row in rows
            if needs_write(
                known.get(row["identity_key"]), row["content_hash"], row["source_updated_at"]
            )
        ]
        counts.unchanged += len(rows) - len(to_write)
        inserted_ids = await _insert_new(session, to_write, known)
        if inserted_ids:
            counts.inserted += len(inserted_ids)
            to_write = [row for row in to_write if row["identity_key"] in known]
        changes: list[dict[str, Any]] = []
        if to_write:
            written, changes = await _upsert_staged(session, to_write, known, run_id)
            upserted_new = [row.id for row in written if row.inserted]
            inserted_ids += upserted_new
            counts.inserted += len(upserted_new)
            counts.updated += len(written) - len(upserted_new)
            # Rows that lost a race to a newer version written meanwhile were not written.
            counts.unchanged += len(to_write) - len(written)
        if events and (inserted_ids or changes):
            counts.events = await record_events(
                session, inserted=inserted_ids, changed=_changed_fields(changes), run_id=run_id
            )
        return counts


async def _insert_new(
    session: AsyncSession, to_write: list[dict[str, Any]], known: dict[str, Any]
) -> list[uuid.UUID]:
    """The rows of keys no stored tender has, COPied straight into `tenders` (in key order):
    their new ids, or none when another writer stored one of the keys meanwhile (then every
    row takes the upsert path)."""
    new = [row for row in to_write if row["identity_key"] not in known]
    if not new:
        return []
    ids = new_ids(len(new))
    values = [(*_staged_values(row), new_id) for row, new_id in zip(new, ids, strict=True)]
    return ids if await insert_new(session, "tenders", _NEW_COLUMNS, values) else []


async def _upsert_staged(
    session: AsyncSession,
    to_write: list[dict[str, Any]],
    known: dict[str, Any],
    run_id: uuid.UUID | None,
) -> tuple[Sequence[Any], list[dict[str, Any]]]:
    """The rows through staging and one upsert, with the history of the tracked fields they
    change: the rows written (id, identity_key, inserted) and that history."""
    before = await _lock_tracked(
        session, [r["identity_key"] for r in to_write if r["identity_key"] in known]
    )
    await copy_to_staging(session, _TENDER_STAGING, [_staged_values(row) for row in to_write])
    written = (await session.execute(_TENDER_UPSERT)).all()
    changes = await _record_history(session, written, before, to_write, run_id)
    return written, changes


async def _record_history(
    session: AsyncSession,
    written: Sequence[Any],
    before: dict[str, dict[str, Any]],
    to_write: list[dict[str, Any]],
    run_id: uuid.UUID | None,
) -> list[dict[str, Any]]:
    """The history rows of the updated tenders whose tracked fields changed, written."""
    by_key = {row["identity_key"]: row for row in to_write}
    changes = [
        change
        for row in written
        if not row.inserted and row.identity_key in before
        for change in _changes(row.id, before[row.identity_key], by_key[row.identity_key], run_id)
    ]
    if changes:
        await session.execute(sa_insert(TenderChange), changes)
    return changes


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


def _changed_fields(
    changes: list[dict[str, Any]],
) -> list[tuple[uuid.UUID, dict[str, list[str | None]]]]:
    """History rows grouped by tender: {field: [old, new]}."""
    grouped: dict[uuid.UUID, dict[str, list[str | None]]] = {}
    for change in changes:
        fields = grouped.setdefault(change["tender_id"], {})
        fields[change["field"]] = [change["old_value"], change["new_value"]]
    return list(grouped.items())


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
# A tender row's columns, in the order they are staged.
_ROW_FIELDS = (*HASHED_FIELDS, *UNHASHED_FIELDS, "identity_key", "content_hash")
_staged_values = itemgetter(*_ROW_FIELDS)
_NEW_COLUMNS = (*_ROW_FIELDS, "id")  # a new row COPied straight in: its id is made here
_TENDER_STAGING = StagingTable(
    "staging_tenders",
    tuple((name, _COLUMN_TYPES.get(name, _TEXT)) for name in _ROW_FIELDS),
)
_TENDER_UPSERT = upsert_from_staging(
    "tenders",
    _TENDER_STAGING,
    conflict="(identity_key)",
    order_by="identity_key",
    updated=[name for name in _ROW_FIELDS if name != "identity_key"],
    returning="stored.id, stored.identity_key, (stored.xmax = 0) AS inserted",
)
# The pre-reads: one array parameter each, however large the batch.
_STORED_TENDERS = text(
    "SELECT identity_key, content_hash, source_updated_at FROM tenders "
    "WHERE identity_key = ANY(CAST(:keys AS text[]))"
)
_SOURCE_URL_OUTSIDE = text(
    "SELECT coalesce(source_url, '') FROM tenders WHERE source = :source "
    "AND NOT coalesce(source_url, '') LIKE ANY(CAST(:patterns AS text[])) LIMIT 1"
)
_KNOWN_DIGESTS = text(
    "SELECT source_digest, record_count FROM publications "
    "WHERE source_digest = ANY(CAST(:digests AS text[])) AND record_count IS NOT NULL"
)
_KNOWN_DOCUMENTS = text(
    "SELECT p.source, p.format, p.document_key, p.record_count "
    "FROM publications p JOIN unnest(CAST(:sources AS text[]), CAST(:formats AS text[]), "
    "CAST(:keys AS text[]), CAST(:digests AS text[])) AS k(source, format, document_key, digest) "
    "USING (source, format, document_key) "
    "WHERE p.source_digest = k.digest AND p.record_count IS NOT NULL"
)


def _tender_row(record: TenderRecord, key: str) -> dict[str, Any]:
    """The row of `record`, whose identity key is `key` (made once per record)."""
    row = record.hashed_fields()
    digest = hash_document(row, keys_sorted=True)  # record.content_hash(), not copied again
    for name in UNHASHED_FIELDS:
        row[name] = getattr(record, name)
    row["identity_key"] = key
    row["content_hash"] = digest
    return row
