"""The feed of all changes, for alerting: poll with the last `next_cursor` you got."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from src.api import cursors
from src.api.auth import AUTH_RESPONSES, require_read
from src.api.deps import get_analytics_db
from src.api.params import Cursor, Limit, UtcDateTime, invalid
from src.api.queries import change_page, since_key
from src.api.schemas import ChangeFeedItem, ChangeFeedPage

router = APIRouter(tags=["changes"], dependencies=[Depends(require_read)], responses=AUTH_RESPONSES)
CHANGE_CURSOR = "c"


@router.get("/changes", response_model=ChangeFeedPage, summary="Changes since a moment")
async def list_changes(
    db: Annotated[AsyncSession, Depends(get_analytics_db)],
    since: Annotated[
        UtcDateTime | None,
        Query(description="Changes after this moment (ISO 8601; without an offset, UTC)."),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ChangeFeedPage:
    """Every change of a tracked field (deadline, status, amounts, award) after `since`, or
    after the `cursor` of an earlier answer (it wins when both are given), oldest first.
    `next_cursor` is always set: keep it and pass it next time to get only what is new."""
    if cursor is not None:
        try:
            after = cursors.decode(CHANGE_CURSOR, cursor)
        except cursors.InvalidCursor as error:
            invalid(("query", "cursor"), str(error), cursor)
    elif since is not None:
        after = since_key(since)
    else:
        invalid(
            ("query", "since"),
            "give since (an ISO 8601 date-time, e.g. 2025-01-31T00:00:00Z) or a cursor",
            None,
        )
    items, end, has_more = await change_page(db, after, limit)
    return ChangeFeedPage(
        items=[ChangeFeedItem.model_validate(item) for item in items],
        next_cursor=cursors.encode(CHANGE_CURSOR, end),
        has_more=has_more,
    )
