"""Runs and feeds by the id a person types: whole, or its first characters."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.ids import UnknownIdError, by_prefix, only
from src.domain.runs.entities import Feed, IngestRun


async def resolve_run(session: AsyncSession, text: str) -> IngestRun:
    """The run whose id is, or starts with, `text` (UnknownIdError / AmbiguousIdError otherwise)."""
    try:
        rows = await by_prefix(session, IngestRun, text)
    except ValueError as error:
        raise UnknownIdError(str(error)) from None
    run: IngestRun = only(rows, text, "run")
    return run


async def resolve_feed(session: AsyncSession, text: str) -> Feed:
    """The feed whose source is `text`, else whose id is or starts with it."""
    found = await session.scalar(select(Feed).where(Feed.source == text))
    if found is not None:
        return found
    try:
        rows = await by_prefix(session, Feed, text)
    except ValueError:
        rows = []
    if not rows:
        raise UnknownIdError(f"no feed has the source or id {text.strip()!r}")
    feed: Feed = only(rows, text, "feed")
    return feed
