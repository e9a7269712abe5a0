"""Reading tenders: one by id or CIG (primary database), lists and history (the
analytics/replica database when ANALYTICS_DATABASE_URL is set)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.responses import Response

from src.api import cursors
from src.api.auth import AUTH_RESPONSES, require_read
from src.api.deps import get_analytics_db, get_analytics_reader, get_reader
from src.api.params import Cig, Cpv, Cursor, Limit, Text, UtcDateTime, invalid
from src.api.queries import (
    TenderFilters,
    cpv_prefix,
    search_words,
    tender_by_cig,
    tender_by_id,
    tender_page,
)
from src.api.rows import tender_page_response, tender_response
from src.api.schemas import ErrorMessage, TenderChangeOut, TenderHistory, TenderOut, TenderPage
from src.domain.tender.schemas import TenderStatus
from src.domain.tender.services import TenderService
from src.domain.tender.services.history import tender_history

router = APIRouter(tags=["tenders"], dependencies=[Depends(require_read)], responses=AUTH_RESPONSES)

ReadDb = Annotated[AsyncSession, Depends(get_analytics_db)]
# One reading statement: a connection in autocommit, no session (see deps.get_reader).
Reader = Annotated[AsyncConnection, Depends(get_reader)]
AnalyticsReader = Annotated[AsyncConnection, Depends(get_analytics_reader)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "No such tender."}
}
TENDER_CURSOR = "t"


def tender_filters(
    cig: Annotated[Cig | None, Query(description="Exact CIG (any case).")] = None,
    cpv: Annotated[
        Cpv | None,
        Query(
            description="CPV prefix: 45 (works), 4523; a full code such as 45000000-7 "
            "means its whole branch (45000000 = division 45)."
        ),
    ] = None,
    buyer_id: Annotated[Text | None, Query(max_length=100)] = None,
    status: Annotated[TenderStatus | None, Query(description="OCDS tender status.")] = None,
    source: Annotated[
        Text | None, Query(max_length=100, description="anac, ted, ocds:<prefix>")
    ] = None,
    deadline_before: Annotated[
        UtcDateTime | None,
        Query(description="deadline_at < this (ISO 8601; without an offset, UTC)."),
    ] = None,
    deadline_after: Annotated[UtcDateTime | None, Query(description="deadline_at >= this.")] = None,
    published_after: Annotated[
        UtcDateTime | None, Query(description="published_at >= this.")
    ] = None,
    q: Annotated[
        Text | None,
        Query(
            min_length=2,
            max_length=200,
            description="Words to find in the title or description: all of them, each as "
            "the start of a word, any case (`manutenz strad`).",
        ),
    ] = None,
) -> TenderFilters:
    words: tuple[str, ...] = ()
    if q is not None:
        try:
            words = search_words(q)
        except ValueError as error:
            invalid(("query", "q"), str(error), q)
    return TenderFilters(
        cig=cig,
        cpv_prefix=cpv_prefix(cpv) if cpv is not None else None,
        buyer_id=buyer_id,
        status=status,
        source=source,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
        published_after=published_after,
        words=words,
    )


@router.get("/tenders", response_model=TenderPage, summary="List tenders, newest first")
async def list_tenders(
    filters: Annotated[TenderFilters, Depends(tender_filters)],
    db: AnalyticsReader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Tenders matching every given filter, newest first (by when they were first stored).
    Page with `next_cursor`: pages never repeat or skip a tender, whatever is ingested
    meanwhile; tenders first stored after you started come before your first page."""
    after = None
    if cursor is not None:
        try:
            after = cursors.decode(TENDER_CURSOR, cursor)
        except cursors.InvalidCursor as error:
            invalid(("query", "cursor"), str(error), cursor)
    rows, last = await tender_page(db, filters, after, limit)
    next_cursor = cursors.encode(TENDER_CURSOR, last) if last is not None else None
    return tender_page_response(rows, next_cursor)


@router.get("/tenders/by-cig/{cig}", response_model=TenderOut, responses=NOT_FOUND)
async def get_tender_by_cig(cig: Cig, db: Reader) -> Response:
    row = await tender_by_cig(db, cig)
    if row is None:
        raise HTTPException(404, f"no tender has CIG {cig}")
    return tender_response(row)


@router.get("/tenders/{tender_id}", response_model=TenderOut, responses=NOT_FOUND)
async def get_tender(tender_id: uuid.UUID, db: Reader) -> Response:
    row = await tender_by_id(db, tender_id)
    if row is None:
        raise HTTPException(404, f"no tender has id {tender_id}")
    return tender_response(row)


@router.get("/tenders/{tender_id}/history", response_model=TenderHistory, responses=NOT_FOUND)
async def get_tender_history(tender_id: uuid.UUID, db: ReadDb) -> TenderHistory:
    """What changed on a tender (deadline, status, amounts, award), oldest first."""
    if await TenderService.get_by_id(db, tender_id) is None:
        raise HTTPException(404, f"no tender has id {tender_id}")
    changes = await tender_history(db, tender_id)
    return TenderHistory(
        tender_id=tender_id, items=[TenderChangeOut.model_validate(c) for c in changes]
    )
