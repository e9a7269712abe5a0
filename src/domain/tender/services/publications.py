"""The raw publications behind a batch of tenders: stored once per document (a procedure's
lots share it), the newest version winning, by the same rule and the same two steps as the
tenders (a pre-read of what is stored, then COPY into staging and one upsert; a document
none is stored of is COPied straight in)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.serialization import json_serializer
from src.domain.tender.schemas import TenderRecord
from src.domain.tender.schemas import content_hash as hash_document
from src.domain.tender.services.bulk import (
    insert_new,
    needs_write,
    upsert_from_staging,
    version,
)
from src.infra.database.staging import StagingTable, copy_to_staging, new_ids

DocumentKey = tuple[str, str, str]  # source, format, document key

_STORED_PUBLICATIONS = text(
    "SELECT p.source, p.format, p.document_key, p.content_hash, p.source_updated_at "
    "FROM publications p JOIN unnest(CAST(:sources AS text[]), CAST(:formats AS text[]), "
    "CAST(:keys AS text[])) AS k(source, format, document_key) "
    "USING (source, format, document_key)"
)
# A document's columns, in the order they are staged.
_DOCUMENT_FIELDS = (
    "source",
    "procedure_id",
    "document_key",
    "format",
    "raw",
    "content_hash",
    "source_updated_at",
    "source_url",
    "source_digest",
    "record_count",
)
_staged_values = itemgetter(*_DOCUMENT_FIELDS)
_NEW_COLUMNS = (*_DOCUMENT_FIELDS, "id")  # a new document COPied straight in
_TYPES = {"raw": "json", "source_updated_at": "timestamptz", "record_count": "integer"}
_STAGING = StagingTable(
    "staging_publications",
    tuple((name, _TYPES.get(name, "text")) for name in _DOCUMENT_FIELDS),
    compressed=frozenset({"raw"}),  # as the column is (migration 0011)
)
_UPSERT = upsert_from_staging(
    "publications",
    _STAGING,
    conflict="ON CONSTRAINT uq_publications_source_format_document_key",
    order_by="source, format, document_key",
    updated=[name for name in _DOCUMENT_FIELDS if name not in ("source", "format", "document_key")],
)


async def upsert_publications(session: AsyncSession, batch: Sequence[TenderRecord]) -> None:
    """Store each document's raw publication once, newest version wins."""
    documents = _documents(batch)
    if not documents:
        return
    sources, formats, keys = (list(part) for part in zip(*documents, strict=True))
    stored = await session.execute(
        _STORED_PUBLICATIONS, {"sources": sources, "formats": formats, "keys": keys}
    )
    known = {(src, fmt, doc): (digest, version(at)) for src, fmt, doc, digest, at in stored}
    to_write = [
        key
        for key in sorted(documents)
        if needs_write(
            known.get(key), documents[key]["content_hash"], documents[key]["source_updated_at"]
        )
    ]
    for key in to_write:
        document = documents[key]
        # Once per document; the text it was read from when there is one.
        document["raw"] = document.pop("raw_json") or json_serializer(document["raw"])
    absent = [key for key in to_write if key not in known]
    new = [
        (*_staged_values(documents[key]), new_id)
        for key, new_id in zip(absent, new_ids(len(absent)), strict=True)
    ]
    if new and await insert_new(session, "publications", _NEW_COLUMNS, new):
        to_write = [key for key in to_write if key in known]
    if to_write:
        staged = [_staged_values(documents[key]) for key in to_write]
        await copy_to_staging(session, _STAGING, staged)
        await session.execute(_UPSERT)


def _documents(batch: Sequence[TenderRecord]) -> dict[DocumentKey, dict[str, Any]]:
    """The batch's documents, the newest version of each, with the count of its lots."""
    documents: dict[DocumentKey, dict[str, Any]] = {}
    hashes: dict[int, str] = {}
    lots: Counter[DocumentKey] = Counter()
    for record in batch:
        # The lots of one document share one object (or one text).
        shared = record.raw if record.raw is not None else record.raw_json
        if shared is None:
            continue
        if record.source_digest is not None:
            # Read from bytes whose digest (with the mapping's) is known: that digest names
            # the content, and the document need not be serialised again to be hashed.
            digest = record.source_digest
        else:
            digest = hashes.get(id(shared)) or hash_document(
                shared if record.raw is not None else orjson.loads(shared)
            )
            hashes[id(shared)] = digest
        key = (record.source, record.format, record.document_key or record.procedure_id)
        lots[key] += 1
        kept = documents.get(key)
        if kept is None or version(record.source_updated_at) >= version(kept["source_updated_at"]):
            documents[key] = {
                "source": record.source,
                "procedure_id": record.procedure_id,
                "document_key": key[2],
                "format": record.format,
                "raw": record.raw,
                "raw_json": record.raw_json,
                "content_hash": digest,
                "source_updated_at": record.source_updated_at,
                "source_url": record.source_url,
                "source_digest": record.source_digest,
                "record_count": None,
            }
    for key, document in documents.items():
        document["record_count"] = lots[key] if document["source_digest"] else None
    return documents
