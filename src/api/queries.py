"""The reads behind the list endpoints: filtered tenders and the feed of changes, both paged
by keyset (a cursor on an immutable, unique key), so that a page costs an index range and
paging never repeats or skips a row, whatever is written meanwhile.

Tenders are listed newest first by (created_at, id). Neither changes once a row exists (an
update rewrites the content, not these), which is what makes the order safe to page through
while ingests run. Rows inserted after the first page was read sort before it, so they
are not part of the pages still to come.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, literal_column, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import func
from sqlalchemy.sql.expression import ColumnClause

from src.api.cursors import Key
from src.domain.tender.entities import Tender, TenderChange

# Must stay identical to the expression of the index ix_tenders_search (migration 0003).
SEARCH_DOCUMENT: ColumnClause[Any] = literal_column(
    "to_tsvector('simple'::regconfig, left((title || ' ') || coalesce(description, ''), 100000))"
)
_SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 10
_LAST_UUID = uuid.UUID(int=(1 << 128) - 1)


@dataclass(frozen=True)
class TenderFilters:
    cig: str | None = None
    cpv_prefix: str | None = None
    buyer_id: str | None = None
    status: str | None = None
    source: str | None = None
    deadline_before: datetime | None = None
    deadline_after: datetime | None = None
    published_after: datetime | None = None
    words: tuple[str, ...] = ()


def search_words(q: str) -> tuple[str, ...]:
    """The words of a free-text query: letters and digits, 2 characters or more."""
    words = tuple(w.lower() for w in _WORD.findall(q) if len(w) >= 2)
    if not words:
        raise ValueError("q needs at least one word of two or more letters or digits")
    if len(words) > MAX_WORDS:
        raise ValueError(f"q has {len(words)} words; at most {MAX_WORDS} are searched")
    return words


def cpv_prefix(code: str) -> str:
    """A CPV code or prefix as a prefix filter. A full code names its whole branch of the
    tree: 45000000 (or 45000000-7) is division 45, 45210000 is group 4521."""
    digits, _, _check = code.partition("-")
    if len(digits) == 8 and digits.isdigit():
        return digits.rstrip("0").ljust(2, "0")
    return code


def _conditions(filters: TenderFilters) -> list[Any]:
    conditions: list[Any] = []
    if filters.cig is not None:
        conditions.append(Tender.cig == filters.cig.strip().upper())
    if filters.cpv_prefix is not None:
        # Only digits and hyphens reach here: no LIKE wildcard to escape.
        conditions.append(Tender.cpv.like(filters.cpv_prefix + "%"))
    if filters.buyer_id is not None:
        conditions.append(Tender.buyer_id == filters.buyer_id)
    if filters.status is not None:
        conditions.append(Tender.status == filters.status)
    if filters.source is not None:
        conditions.append(Tender.source == filters.source)
    if filters.deadline_before is not None:
        conditions.append(Tender.deadline_at < filters.deadline_before)
    if filters.deadline_after is not None:
        conditions.append(Tender.deadline_at >= filters.deadline_after)
    if filters.published_after is not None:
        conditions.append(Tender.published_at >= filters.published_after)
    if filters.words:
        query = " & ".join(f"{word}:*" for word in filters.words)
        conditions.append(SEARCH_DOCUMENT.bool_op("@@")(func.to_tsquery(_SIMPLE, query)))
    return conditions


def tender_page_query(filters: TenderFilters, after: Key | None, limit: int) -> Select[Tender]:
    """One page and one row more (to tell whether another page follows)."""
    query = select(Tender).where(*_conditions(filters))
    if after is not None:
        query = query.where(tuple_(Tender.created_at, Tender.id) < tuple_(after.at, after.id))
    return query.order_by(Tender.created_at.desc(), Tender.id.desc()).limit(limit + 1)


async def tender_page(
    session: AsyncSession, filters: TenderFilters, after: Key | None, limit: int
) -> tuple[Sequence[Tender], Key | None]:
    rows = (await session.scalars(tender_page_query(filters, after, limit))).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Key(last.created_at, last.id)


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
