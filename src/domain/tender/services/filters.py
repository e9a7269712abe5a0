"""Which tenders a list shows: the filters of `GET /tenders` and `tenders list`, one
definition for both (the API pages by keyset on top of it; the CLI takes the newest)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    bindparam,
    literal_column,
    select,
)
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


# Each filter's condition on a bound parameter named as the filter (`filter_values` gives
# the values): a statement of given filters is then the same object whatever their values,
# and can be built once (src/api/queries.py). The parameters take their columns' types.
_CONDITIONS: dict[str, Callable[[BindParameter[Any]], ColumnElement[bool]]] = {
    "cig": lambda value: Tender.cig == value,
    # Only digits and hyphens reach here: no LIKE wildcard to escape.
    "cpv_prefix": lambda value: Tender.cpv.like(value),
    "buyer_id": lambda value: Tender.buyer_id == value,
    "status": lambda value: Tender.status == value,
    "source": lambda value: Tender.source == value,
    "deadline_before": lambda value: Tender.deadline_at < value,
    "deadline_after": lambda value: Tender.deadline_at >= value,
    "published_after": lambda value: Tender.published_at >= value,
    "words": lambda value: SEARCH_DOCUMENT.bool_op("@@")(func.to_tsquery(_SIMPLE, value)),
}
_TYPES = {"words": String()}  # to_tsquery's text; the others compare with a column
# Filters whose value is bound as given (cig and cpv prefix are normalised, words joined).
_AS_GIVEN = ("buyer_id", "status", "source", "deadline_before", "deadline_after", "published_after")


def filter_values(filters: TenderFilters) -> dict[str, Any]:
    """The bound values of the filters given, by name (see `bound_conditions`)."""
    values: dict[str, Any] = {}
    if filters.cig is not None:
        values["cig"] = filters.cig.strip().upper()
    if filters.cpv_prefix is not None:
        values["cpv_prefix"] = filters.cpv_prefix + "%"
    for name in _AS_GIVEN:
        if (value := getattr(filters, name)) is not None:
            values[name] = value
    if filters.words:
        values["words"] = " & ".join(f"{word}:*" for word in filters.words)
    return values


def bound_conditions(names: Iterable[str]) -> list[ColumnElement[bool]]:
    """The conditions of the filters `names`, on parameters their values are given to."""
    return [_CONDITIONS[name](bindparam(name, type_=_TYPES.get(name))) for name in names]


def conditions(filters: TenderFilters) -> list[ColumnElement[bool]]:
    """The conditions of `filters`, with their values."""
    values = filter_values(filters)
    return [condition.params(values) for condition in bound_conditions(values)]


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
