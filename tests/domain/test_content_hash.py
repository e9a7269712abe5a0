"""A tender's content hash is what every stored row was compared by: it must not change with
the code that computes it (a changed hash rewrites every stored tender once)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson

from src.domain.tender.schemas import HASHED_FIELDS, TenderRecord


def _by_the_definition(record: TenderRecord) -> str:
    """SHA-256 of the hashed fields as JSON with sorted keys, Decimal as text, UTC as Z."""
    fields = {name: getattr(record, name) for name in reversed(HASHED_FIELDS)}
    data = orjson.dumps(
        fields,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z,
        default=lambda value: str(value) if isinstance(value, Decimal) else None,
    )
    return hashlib.sha256(data).hexdigest()


def test_the_content_hash_is_the_sorted_json_of_the_hashed_fields() -> None:
    record = TenderRecord(
        source="anac",
        procedure_id="ocds-hu01ve-1",
        lot_id="1234567A0B",
        cig="1234567A0B",
        title="Lavori è",
        amount=Decimal("1000"),
        award_amount=Decimal("12.50"),
        currency="EUR",
        published_at=datetime(2021, 6, 11, tzinfo=ZoneInfo("Europe/Rome")),
        source_updated_at=datetime(2022, 10, 3, 12, tzinfo=UTC),
        status="active",
        source_url="https://example.org/not-hashed",
    )
    assert record.content_hash() == _by_the_definition(record)
    # Pinned: what the code before this test computed for it (stored rows have it).
    assert record.content_hash() == (
        "f27a438d5bdfc0da0264d714c783424cc2a5e539b31ba8dee13b33091ae1c2d6"
    )
    assert record.model_copy(update={"source_url": "elsewhere"}).content_hash() == (
        record.content_hash()
    )
