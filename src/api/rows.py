"""Tenders as the hot read routes answer them: selected as columns (no ORM objects, no
identity map) and written as JSON in one step (orjson), bytes for bytes what `TenderOut`
validated and serialised by pydantic would give: the fields in the schema's order, UUIDs and
decimal amounts as strings ("1234.50"), UTC times with a `Z`. The routes keep `TenderOut`
as their response model, so the schema and the documentation do not change;
tests/api/test_rows.py holds the two ways side by side."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement
from starlette.responses import Response

from src.api.schemas import TenderOut
from src.domain.tender.entities import Tender

TENDER_FIELDS: tuple[str, ...] = tuple(TenderOut.model_fields)
TENDER_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(Tender.__table__.c[n] for n in TENDER_FIELDS)


def _default(value: object) -> str:
    if isinstance(value, Decimal | uuid.UUID):  # asyncpg's UUID is a subclass orjson refuses
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


def tender_item(row: Sequence[Any]) -> dict[str, Any]:
    """One selected row (`TENDER_COLUMNS`) as TenderOut's fields, in their order."""
    return dict(zip(TENDER_FIELDS, row, strict=True))


class JsonBytes(Response):
    """A JSON body serialised already."""

    media_type = "application/json"


def tender_response(row: Sequence[Any]) -> JsonBytes:
    return JsonBytes(dumps(tender_item(row)))


def tender_page_response(rows: Sequence[Sequence[Any]], next_cursor: str | None) -> JsonBytes:
    items = [tender_item(row) for row in rows]
    return JsonBytes(dumps({"items": items, "next_cursor": next_cursor}))
