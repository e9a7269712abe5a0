"""How long what was sent is kept: deliveries that ended (sent, or failed for good) before a
moment go, and so do the matched events left without any delivery. Pending deliveries and
unmatched events are never pruned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_DELIVERIES = text(
    "DELETE FROM deliveries WHERE status <> 'pending' "
    "AND coalesce(sent_at, last_attempt_at, created_at) < :before"
)
_EVENTS = text(
    "DELETE FROM tender_events e WHERE e.matched_at IS NOT NULL AND e.matched_at < :before "
    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
)


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    events: int


async def prune(session: AsyncSession, before: datetime) -> Pruned:
    deliveries = await session.execute(_DELIVERIES, {"before": before})
    events = await session.execute(_EVENTS, {"before": before})
    return Pruned(
        int(deliveries.rowcount or 0),  # type: ignore[attr-defined]
        int(events.rowcount or 0),  # type: ignore[attr-defined]
    )
