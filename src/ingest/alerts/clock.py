"""The alerts' part of the every-minute cron: `deadline_near` events for the deadlines that
came within a watch's days, then a wake-up for the dispatcher when anything waits — events
not yet matched, deliveries due (a retry whose time came, a lease that ran out after a
dispatcher died). The cron is the safety net under the wake-ups the ingests send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from src.domain.alerts.entities import TenderEvent
from src.domain.alerts.services.deliveries import make_deadline_events, next_due_at
from src.ingest.alerts.wake import request_dispatch_quietly
from src.ingest.deps import IngestDeps


@dataclass(frozen=True)
class Tick:
    deadline_events: int
    waiting: bool
    queued: bool


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
    return Tick(made, waiting, queued)
