"""The reads behind the list endpoints: filtered tenders and the feed of changes, both paged
by keyset (a cursor on an immutable, unique key), so that a page costs an index range and
paging never repeats or skips a row, whatever is written meanwhile.

Tenders are listed newest first by (created_at, id). Neither changes once a row exists (an
update rewrites the content, not these), which is what makes the order safe to page through
while ingests run. Rows inserted after the first page was read sort before it, so they
are not part of the pages still to come.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, Select, bindparam, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from src.api.cursors import Key
from src.api.rows import TENDER_COLUMNS, TENDER_FIELDS
from src.domain.tender.entities import Tender, TenderChange
from src.domain.tender.services.filters import (
    MAX_WORDS,
    SEARCH_DOCUMENT,
    TenderFilters,
    bound_conditions,
    cpv_prefix,
    filter_values,
    search_words,
)

# The filters live in the domain (the CLI's `tenders list` uses them too); their names stay
# importable from here.
__all__ = [
    "MAX_WORDS",
    "SEARCH_DOCUMENT",
    "TenderFilters",
    "change_page",
    "change_page_query",
    "cpv_prefix",
    "search_words",
    "since_key",
    "tender_by_cig",
    "tender_by_id",
    "tender_page",
    "tender_page_query",
]

_LAST_UUID = uuid.UUID(int=(1 << 128) - 1)
# Where a page row holds its key (rows are read as tuples of `TENDER_COLUMNS`).
_CREATED_AT, _ID = TENDER_FIELDS.index("created_at"), TENDER_FIELDS.index("id")


@functools.cache  # one per combination of filters given and cursor: 2 ** 10 at most
def _page_statement(filters: tuple[str, ...], after: bool) -> Select[Any]:
    """A page's statement for the filters named (and a cursor, when `after`), built once:
    SQLAlchemy keeps its cache key with it, where a statement built per request is built
    and keyed again each time. Values are given when it runs (`_page`)."""
    query = select(*TENDER_COLUMNS).where(*bound_conditions(filters))
    if after:
        query = query.where(
            tuple_(Tender.created_at, Tender.id)
            < tuple_(
                bindparam("after_at", type_=Tender.created_at.type),
                bindparam("after_id", type_=Tender.id.type),
            )
        )
    order = (Tender.created_at.desc(), Tender.id.desc())
    return query.order_by(*order).limit(bindparam("limit", type_=Integer()))


def _page(
    filters: TenderFilters, after: Key | None, limit: int
) -> tuple[Select[Any], dict[str, Any]]:
    """A page's statement and its values: one page and one row more (to tell whether
    another page follows)."""
    values = filter_values(filters)
    # The names in `filter_values`' own order: one statement per set of filters.
    statement = _page_statement(tuple(values), after is not None)
    if after is not None:
        values.update(after_at=after.at, after_id=after.id)
    values["limit"] = limit + 1
    return statement, values


def tender_page_query(filters: TenderFilters, after: Key | None, limit: int) -> Select[Any]:
    """A page's statement with its values bound, as the API runs it (for a plan, say)."""
    statement, values = _page(filters, after, limit)
    return statement.params(values)


async def tender_page(
    connection: AsyncConnection, filters: TenderFilters, after: Key | None, limit: int
) -> tuple[Sequence[Row[Any]], Key | None]:
    """A page of rows (the columns the API answers, in `TENDER_FIELDS` order) and the key
    of its last row when another page follows."""
    rows = (await connection.execute(*_page(filters, after, limit))).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Key(last[_CREATED_AT], last[_ID])


# A lookup's statement, built once (see `_page_statement`): a quarter of a lookup's CPU.
_TENDER_BY_CIG = select(*TENDER_COLUMNS).where(Tender.cig == bindparam("key"))
_TENDER_BY_ID = select(*TENDER_COLUMNS).where(Tender.id == bindparam("key"))


async def tender_by_cig(connection: AsyncConnection, cig: str) -> Row[Any] | None:
    """The columns the API answers of the tender with this CIG."""
    return (await connection.execute(_TENDER_BY_CIG, {"key": cig})).one_or_none()


async def tender_by_id(connection: AsyncConnection, tender_id: uuid.UUID) -> Row[Any] | None:
    """The columns the API answers of the tender with this id."""
    return (await connection.execute(_TENDER_BY_ID, {"key": tender_id})).one_or_none()


def since_key(since: datetime) -> Key:
    """The position just after every change at `since`: the feed shows what came later."""
    return Key(since, _LAST_UUID)


def change_page_query(after: Key, limit: int) -> Select[TenderChange, str | None, str | None, str]:
    return (
        select(TenderChange, Tender.cig, Tender.identity_key, Tender.title)
        .join(Tender, Tender.id == TenderChange.tender_id)
        .where(
            TenderChange.changed_at >= after.at,
            or_(
                TenderChange.changed_at > after.at,
                TenderChange.id > after.id,
            ),
        )
        .order_by(TenderChange.changed_at, TenderChange.id)
        .limit(limit + 1)
    )


async def change_page(
    session: AsyncSession, after: Key, limit: int
) -> tuple[list[dict[str, Any]], Key, bool]:
    """Changes after `after`, oldest first, with what identifies their tender; the key the
    page ends at (`after` itself when it is empty) and whether more are waiting."""
    rows = (await session.execute(change_page_query(after, limit))).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": change.id,
            "tender_id": change.tender_id,
            "field": change.field,
            "old_value": change.old_value,
            "new_value": change.new_value,
            "changed_at": change.changed_at,
            "source_updated_at": change.source_updated_at,
            "run_id": change.run_id,
            "cig": cig,
            "identity_key": identity_key,
            "title": title,
        }
        for change, cig, identity_key, title in rows
    ]
    end = Key(rows[-1][0].changed_at, rows[-1][0].id) if rows else after
    return items, end, has_more
