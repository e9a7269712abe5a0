"""The place of performance reaches tenders already stored: a re-ingest after the mapping
learnt `nuts` fills it, for OCDS lines skipped unmapped when unchanged, and for formats that
are mapped every time (the place is part of the content hash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.tender.entities import Tender
from src.readers import anac_cig, ocds, ocds_awards, ocds_mapping
from tests.support.jobs import ingest_source


def _no_place(*_: Any) -> None:
    return None


async def places(session: AsyncSession) -> dict[str | None, str | None]:
    rows = await session.execute(select(Tender.cig, Tender.nuts).order_by(Tender.cig))
    return {cig: nuts for cig, nuts in rows}


async def test_a_reingest_fills_the_place_of_ocds_lines_stored_before(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = {
        "ocid": "ocds-hu01ve-7",
        "id": "r7",
        "date": "2025-01-01T00:00:00Z",
        "tag": ["compiled"],
        "tender": {
            "id": "7",
            "description": "Servizio mensa",
            "lots": [{"id": "7777777AAA"}],
            "items": [{"id": "1", "relatedLot": "7777777AAA",
                       "deliveryAddresses": [{"region": "ITC4C"}]}],
        },
    }  # fmt: skip
    source = tmp_path / "anac.jsonl"
    source.write_text(json.dumps(line) + "\n")
    # the mapping as it was before it read places, under its own version
    monkeypatch.setattr(ocds_awards, "delivery_nuts", _no_place)
    monkeypatch.setattr(ocds_mapping, "delivery_nuts", _no_place)
    monkeypatch.setattr(ocds, "_MAPPING_VERSION", "a mapping without places")
    first = await ingest_source(ctx, str(source))
    assert first["inserted"] == 1
    assert await places(db_session) == {"7777777AAA": None}

    monkeypatch.undo()  # the mapping of this code: another version, so the line is read again
    again = await ingest_source(ctx, str(source))
    assert (again["updated"], again["unchanged"]) == (1, 0)
    assert await places(db_session) == {"7777777AAA": "ITC4C"}
    assert (await ingest_source(ctx, str(source)))["unchanged"] == 1


async def test_a_reingest_fills_the_place_of_anac_csv_rows_stored_before(
    ctx: dict[str, Any],
    db_session: AsyncSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "cig.csv"
    source.write_text(
        "cig;numero_gara;oggetto_lotto;luogo_istat;data_pubblicazione\n"
        "9000001A0B;1;Lotto uno;083048;2025-01-10\n"
    )
    monkeypatch.setattr(anac_cig, "istat_nuts3", _no_place)
    assert (await ingest_source(ctx, str(source)))["inserted"] == 1
    assert await places(db_session) == {"9000001A0B": None}

    monkeypatch.undo()
    again = await ingest_source(ctx, str(source))
    assert (again["updated"], again["unchanged"]) == (1, 0)
    assert await places(db_session) == {"9000001A0B": "ITG13"}
