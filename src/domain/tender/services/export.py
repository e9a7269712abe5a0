"""Every tender, in a stable order, as plain rows: what `tenders export` writes, and the
cells of its CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Tender

# No ingestion timestamps: an export of unchanged data is byte-for-byte the same.
EXPORT_FIELDS: tuple[str, ...] = (
    "id",
    "cig",
    "procedure_id",
    "lot_id",
    "source",
    "title",
    "description",
    "status",
    "procedure_type",
    "amount",
    "currency",
    "buyer_id",
    "buyer_name",
    "cpv",
    "nuts",
    "published_at",
    "deadline_at",
    "award_amount",
    "award_currency",
    "awarded_at",
    "supplier_id",
    "supplier_name",
    "source_url",
    "source_updated_at",
)


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection):
# `=HYPERLINK(...)` in a publisher's title would run when an analyst opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One CSV cell: text that a spreadsheet would read as a formula gets a leading `'`
    (shown as text, the rest kept); numbers, dates and ids are written as they are (a
    negative amount stays a number)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    return str(value)


def csv_row(row: Mapping[str, Any]) -> dict[str, str]:
    return {name: csv_cell(value) for name, value in row.items()}


async def export_rows(session: AsyncSession, batch: int = 2000) -> AsyncIterator[dict[str, Any]]:
    columns = [getattr(Tender, name) for name in EXPORT_FIELDS]
    statement = (
        select(*columns)
        .order_by(Tender.identity_key.asc().nulls_last(), Tender.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(statement)
    async for row in result:
        yield dict(zip(EXPORT_FIELDS, row, strict=True))
