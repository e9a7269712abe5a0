"""Ids as people type them: a whole UUID, or the first characters of one (the 8 a table
shows). A prefix is a range of UUIDs, so finding it costs a primary-key index range."""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

MIN_PREFIX = 4
SHORT_ID = 8
_HEX = frozenset(string.hexdigits)


class UnknownIdError(LookupError):
    """Nothing has this id (or id prefix); the message says what was looked for."""


class AmbiguousIdError(LookupError):
    """More than one row has this id prefix."""


def short_id(value: uuid.UUID | None) -> str:
    """The first 8 hex digits: what a table shows and a command accepts back."""
    return "" if value is None else value.hex[:SHORT_ID]


def prefix_bounds(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The first and last UUID starting with `text` (hex digits, hyphens ignored), or None
    when `text` cannot start a UUID. Too short a prefix is a ValueError saying so."""
    digits = text.strip().replace("-", "").lower()
    if not digits or len(digits) > 32 or not set(digits) <= _HEX:
        return None
    if len(digits) < MIN_PREFIX:
        raise ValueError(f"{text.strip()!r}: give at least {MIN_PREFIX} characters of an id")
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    return low, high


async def by_prefix(session: AsyncSession, model: Any, text: str) -> Sequence[Any]:
    """At most two rows of `model` whose id starts with `text` (two: it is ambiguous)."""
    bounds = prefix_bounds(text)
    if bounds is None:
        return []
    query = select(model).where(model.id.between(*bounds)).order_by(model.id).limit(2)
    return (await session.scalars(query)).all()


def only(rows: Sequence[Any], text: str, what: str) -> Any:
    shown = text.strip()
    if not rows:
        raise UnknownIdError(f"no {what} has the id {shown!r}")
    if len(rows) > 1:
        raise AmbiguousIdError(
            f"{shown!r} starts the ids of several {what}s ({short_id(rows[0].id)}, "
            f"{short_id(rows[1].id)}, ...): give more characters"
        )
    return rows[0]
