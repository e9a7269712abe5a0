"""What `tenders stats` shows: how many tenders of each source and status, what the runs of
the last day did, and the feed that has waited longest. Read-only, one session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.runs.entities import Feed, IngestRun
from src.domain.tender.entities import Tender

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class RecentRuns:
    """Runs queued since `since`, by status, and what they counted."""

    since: datetime
    by_status: dict[str, int]
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    warnings: int


@dataclass(frozen=True)
class Stats:
    tenders: Sequence[tuple[str | None, str | None, int]]  # source, status, count
    recent: RecentRuns
    oldest_feed: Feed | None  # the enabled feed least recently enqueued (never: first)


async def tender_counts(session: AsyncSession) -> Sequence[tuple[str | None, str | None, int]]:
    query = (
        select(Tender.source, Tender.status, func.count())
        .group_by(Tender.source, Tender.status)
        .order_by(Tender.source, Tender.status)
    )
    return [(source, status, count) for source, status, count in await session.execute(query)]


async def recent_runs(session: AsyncSession, since: datetime) -> RecentRuns:
    recent = IngestRun.queued_at >= since
    by_status = {
        status: count
        for status, count in await session.execute(
            select(IngestRun.status, func.count()).where(recent).group_by(IngestRun.status)
        )
    }
    sums = (
        await session.execute(
            select(
                *(
                    func.coalesce(func.sum(column), 0)
                    for column in (
                        IngestRun.inserted,
                        IngestRun.updated,
                        IngestRun.unchanged,
                        IngestRun.rejected,
                        IngestRun.warnings,
                    )
                )
            ).where(recent)
        )
    ).one()
    inserted, updated, unchanged, rejected, warnings = (int(value) for value in sums)
    return RecentRuns(since, by_status, inserted, updated, unchanged, rejected, warnings)


async def oldest_feed(session: AsyncSession) -> Feed | None:
    query = (
        select(Feed)
        .where(Feed.enabled.is_(True))
        .order_by(Feed.last_enqueued_at.asc().nulls_first(), Feed.created_at)
        .limit(1)
    )
    return await session.scalar(query)


async def stats(session: AsyncSession, now: datetime | None = None) -> Stats:
    moment = now if now is not None else datetime.now(UTC)
    return Stats(
        tenders=await tender_counts(session),
        recent=await recent_runs(session, moment - DAY),
        oldest_feed=await oldest_feed(session),
    )
