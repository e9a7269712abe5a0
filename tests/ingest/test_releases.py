"""OCDS releases merged at batch time with the releases stored before."""

from __future__ import annotations

import io
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.schemas import TenderRecord
from src.ingest.releases import resolve_releases
from src.readers import PendingRelease
from src.readers.ocds import read_ocds
from tests.support.paths import FIXTURES


def read_releases(data: bytes) -> list[PendingRelease]:
    items = list(read_ocds(io.BytesIO(data), source_url="test"))
    releases = [item for item in items if isinstance(item, PendingRelease)]
    assert len(releases) == len(items), "every line is a release"
    return releases


async def test_json_lines_of_releases_are_merged_then_mapped(db_session: AsyncSession) -> None:
    pending = read_releases((FIXTURES / "ocds" / "releases.jsonl").read_bytes())
    items = await resolve_releases(db_session, pending)
    assert [type(i).__name__ for i in items] == ["TenderRecord"] * 3
    first = items[0]
    assert isinstance(first, TenderRecord)
    assert first.source == "ocds:ocds-abc123" and first.lot_id is None
    assert first.amount == Decimal("1500.50")
    # A release date that cannot be read costs that field only: kept, with a warning.
    broken = items[2]
    assert isinstance(broken, TenderRecord) and broken.source_updated_at is None
    [warning] = broken.warnings
    assert warning.field == "source_updated_at" and "invalid date 'not a date'" in warning.problem
    again = await resolve_releases(db_session, pending)
    assert [i.content_hash() for i in again if isinstance(i, TenderRecord)] == [
        i.content_hash() for i in items if isinstance(i, TenderRecord)
    ], "a release seen twice is stored once and compiles to the same state"
