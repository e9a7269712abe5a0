"""Which tenders a list shows: the filters of `GET /tenders` and `tenders list`, one
definition for both (the API pages by keyset on top of it; the CLI takes the newest)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import func
from sqlalchemy.sql.expression import ColumnClause

from src.domain.tender.entities import Tender

# Must stay identical to the expression of the index ix_tenders_search (migration 0003).
SEARCH_DOCUMENT: ColumnClause[Any] = literal_column(
    "to_tsvector('simple'::regconfig, left((title || ' ') || coalesce(description, ''), 100000))"
)
_SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 10


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


def conditions(filters: TenderFilters) -> list[Any]:
    found: list[Any] = []
    if filters.cig is not None:
        found.append(Tender.cig == filters.cig.strip().upper())
    if filters.cpv_prefix is not None:
        # Only digits and hyphens reach here: no LIKE wildcard to escape.
        found.append(Tender.cpv.like(filters.cpv_prefix + "%"))
    if filters.buyer_id is not None:
        found.append(Tender.buyer_id == filters.buyer_id)
    if filters.status is not None:
        found.append(Tender.status == filters.status)
    if filters.source is not None:
        found.append(Tender.source == filters.source)
    if filters.deadline_before is not None:
        found.append(Tender.deadline_at < filters.deadline_before)
    if filters.deadline_after is not None:
        found.append(Tender.deadline_at >= filters.deadline_after)
    if filters.published_after is not None:
        found.append(Tender.published_at >= filters.published_after)
    if filters.words:
        query = " & ".join(f"{word}:*" for word in filters.words)
        found.append(SEARCH_DOCUMENT.bool_op("@@")(func.to_tsquery(_SIMPLE, query)))
    return found


def newest_query(filters: TenderFilters, limit: int) -> Select[Tender]:
    """The newest tenders (by when they were first stored) that match every filter."""
    return (
        select(Tender)
        .where(*conditions(filters))
        .order_by(Tender.created_at.desc(), Tender.id.desc())
        .limit(limit)
    )


async def newest_tenders(
    session: AsyncSession, filters: TenderFilters, limit: int
) -> Sequence[Tender]:
    return (await session.scalars(newest_query(filters, limit))).all()
