"""Tenders published as a sequence of notices (eForms, ANAC PVL) are written as the merge of
all their notices (`domain.tender.notices`): a batch's notices are stored, each procedure's
earlier notices read back and mapped again, and each touched tender merged from all of them.
Runs inside the batch's transaction, holding its procedures until it ends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.notices import NOTICE_FORMATS, merge_notices
from src.domain.tender.schemas import TenderRecord
from src.domain.tender.services import NoticeService, TenderService
from src.readers import map_publication


def _document(record: TenderRecord) -> tuple[str, str, str]:
    return (record.source, record.format, record.document_key or record.procedure_id)


async def merge_with_stored_notices(
    session: AsyncSession, records: Sequence[TenderRecord]
) -> list[TenderRecord]:
    """`records` with those of notice formats replaced by their tenders' merged state (one
    record per identity key); the others as they are."""
    notices = [record for record in records if record.format in NOTICE_FORMATS]
    if not notices:
        return list(records)
    procedures = sorted({(r.source, r.format, r.procedure_id) for r in notices})
    await NoticeService.lock(session, procedures)
    in_batch = {_document(record) for record in notices}
    touched: dict[str, list[TenderRecord]] = defaultdict(list)
    for record in notices:
        touched[record.identity_key].append(record)
    earlier: dict[str, list[TenderRecord]] = defaultdict(list)
    for stored in await NoticeService.stored(session, procedures):
        if (stored.source, stored.format, stored.document_key) in in_batch:
            continue  # read again in this batch: its record is here
        for item in map_publication(stored.format, stored.raw, source_url=stored.source_url):
            if isinstance(item, TenderRecord) and item.identity_key in touched:
                earlier[item.identity_key].append(item)
    await TenderService.store_publications(session, notices)
    merged = [
        merge_notices([*earlier[key], *batch], base=batch[-1]) for key, batch in touched.items()
    ]
    return [record for record in records if record.format not in NOTICE_FORMATS] + merged
