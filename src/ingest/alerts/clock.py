"""The alerts' part of the every-minute cron: `deadline_near` events for the deadlines that
came within a watch's days, then a wake-up for the dispatcher when anything waits — events
not yet matched, deliveries due (a retry whose time came, a lease that ran out after a
dispatcher died). The cron is the safety net under the wake-ups the ingests send. Once an
hour (a mark in Redis, whichever worker's cron comes first) it also prunes the deliveries
that ended more than ALERTS_RETENTION_DAYS ago, with their events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from src.domain.alerts.entities import TenderEvent
from src.domain.alerts.services.deliveries import make_deadline_events, next_due_at
from src.domain.alerts.services.retention import Pruned, prune
from src.ingest.alerts.wake import request_dispatch_quietly
from src.ingest.deps import IngestDeps


@dataclass(frozen=True)
class Tick:
    deadline_events: int
    waiting: bool
    queued: bool
    pruned: Pruned | None = None


PRUNE_EVERY_SECONDS = 3600


async def alerts_tick(deps: IngestDeps, now: datetime | None = None) -> Tick:
    now = now or datetime.now(UTC)
    async with deps.sessions() as session, session.begin():
        made = await make_deadline_events(session, now)
        unmatched = await session.scalar(
            select(TenderEvent.id).where(TenderEvent.matched_at.is_(None)).limit(1)
        )
        due_at = await next_due_at(session)
    waiting = made > 0 or unmatched is not None or (due_at is not None and due_at <= now)
    queued = waiting and await request_dispatch_quietly(deps.queue, deps.settings.queue_name)
    return Tick(made, waiting, queued, await _prune_hourly(deps, now))


async def _prune_hourly(deps: IngestDeps, now: datetime) -> Pruned | None:
    """What ended before the retention period, at most once an hour per queue."""
    mark = f"tenders:alerts:pruned:{deps.settings.queue_name}"
    if not await deps.queue.set(mark, b"1", ex=PRUNE_EVERY_SECONDS, nx=True):
        return None
    before = now - timedelta(days=deps.settings.alerts_retention_days)
    async with deps.sessions() as session, session.begin():
        return await prune(session, before)
