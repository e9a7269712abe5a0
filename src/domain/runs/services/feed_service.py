"""Registered feeds and which of them are due."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Feed


class FeedService:
    @staticmethod
    async def add(
        session: AsyncSession,
        *,
        source: str,
        format: str | None,
        interval_seconds: int,
        encoding: str | None = None,
    ) -> Feed:
        if interval_seconds < 60:
            raise ValueError("a feed's interval must be at least 60 seconds")
        existing = await FeedService.get_by_source(session, source)
        if existing is not None:
            existing.format = format
            existing.encoding = encoding
            existing.interval_seconds = interval_seconds
            existing.enabled = True
            await session.flush()
            return existing
        feed = Feed(
            source=source, format=format, encoding=encoding, interval_seconds=interval_seconds
        )
        session.add(feed)
        await session.flush()
        return feed

    @staticmethod
    async def get_by_source(session: AsyncSession, source: str) -> Feed | None:
        result = await session.execute(select(Feed).where(Feed.source == source))
        return result.scalar_one_or_none()

    @staticmethod
    async def get(session: AsyncSession, feed_id: uuid.UUID) -> Feed | None:
        return await session.get(Feed, feed_id)

    @staticmethod
    async def list(session: AsyncSession) -> Sequence[Feed]:
        result = await session.execute(select(Feed).order_by(Feed.created_at, Feed.source))
        return result.scalars().all()

    @staticmethod
    async def remove(session: AsyncSession, source_or_id: str) -> bool:
        condition = Feed.source == source_or_id
        with contextlib.suppress(ValueError):
            condition = or_(condition, Feed.id == uuid.UUID(source_or_id))
        result = await session.execute(delete(Feed).where(condition).returning(Feed.id))
        return result.first() is not None

    @staticmethod
    async def claim_due(session: AsyncSession, now: datetime) -> Sequence[Feed]:
        """The enabled feeds whose interval has passed (and no Retry-After holds them back),
        marked as enqueued now. Rows are locked and skipped by a concurrent cron, so two
        workers running the cron never enqueue the same feed twice."""
        interval = func.make_interval(0, 0, 0, 0, 0, 0, Feed.interval_seconds)
        result = await session.execute(
            select(Feed)
            .where(
                Feed.enabled.is_(True),
                or_(Feed.last_enqueued_at.is_(None), Feed.last_enqueued_at + interval <= now),
                or_(Feed.not_before.is_(None), Feed.not_before <= now),
            )
            .order_by(Feed.source)
            .with_for_update(skip_locked=True)
        )
        due = result.scalars().all()
        if due:
            await session.execute(
                update(Feed).where(Feed.id.in_([f.id for f in due])).values(last_enqueued_at=now)
            )
        return due

    @staticmethod
    async def remember_validators(
        session: AsyncSession,
        feed_id: uuid.UUID,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        not_before: datetime | None = None,
    ) -> None:
        values: dict[str, object] = {"not_before": not_before}
        if etag is not None or last_modified is not None:
            values.update(etag=etag, last_modified=last_modified)
        await session.execute(update(Feed).where(Feed.id == feed_id).values(**values))
