"""What the CLI and the API do to a stored watch: change it, pause or resume it, replay what
it was sent. Each is one transaction. When it makes deliveries due (a resume, a replay), the
alert dispatcher is queued after the commit (it must see them), so that they are sent now
rather than at the cron's next round; if Redis refuses the job, they stay due and the cron
sends them: nothing is lost either way."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import redis.exceptions
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.alerts.entities import Watch
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.deliveries import replay
from src.domain.alerts.services.watches import WatchService
from src.ingest.alerts.wake import request_dispatch

log = logging.getLogger("tenders.alerts")

PAUSED_BY_OWNER = "paused by its owner"


@dataclass(frozen=True)
class WatchChange:
    """What to change: a new description (None: keep it); paused (True), resumed (False) or
    left as it is (None), with the reason shown while it is paused."""

    spec: WatchSpec | None = None
    paused: bool | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Changed:
    """The watch as it is now; how many deliveries a resume made due again, and whether the
    dispatcher was queued for them."""

    watch: Watch
    due_again: int = 0
    dispatched: bool = False


async def enqueue_dispatch(pool: ArqRedis) -> bool:
    """Wake the alert dispatcher (marked, then queued: one that is running looks again).
    False when Redis did not take it: the cron sends within a minute."""
    try:
        await request_dispatch(pool, pool.default_queue_name)
    except (redis.exceptions.RedisError, OSError) as error:
        log.warning("the alert dispatcher was not queued (%r): the cron will send", error)
        return False
    return True


async def change_watch(
    pool: ArqRedis | None,
    sessions: async_sessionmaker[AsyncSession],
    name_or_id: str,
    change: WatchChange,
    *,
    owner: str | None = None,
) -> Changed:
    """Apply `change` to the watch `name_or_id` (of `owner`; None: any). A resume applies
    only to a paused watch: what failed or waited meanwhile is due again, and the dispatcher
    is queued on `pool` (None: left to the cron; a pause needs no Redis). Raises
    WatchNotFoundError, or WatchExistsError for a new name that is taken."""
    due_again = 0
    async with sessions() as session, session.begin():
        watch = await WatchService.get(session, name_or_id, owner=owner)
        if change.spec is not None:
            watch = await WatchService.update(session, watch, change.spec)
        if change.paused is True:
            await WatchService.pause(session, watch, change.reason or PAUSED_BY_OWNER)
        elif change.paused is False and watch.paused_at is not None:
            due_again = await WatchService.resume(session, watch)
        await session.refresh(watch)
    dispatched = await enqueue_dispatch(pool) if due_again and pool is not None else False
    return Changed(watch, due_again, dispatched)


@dataclass(frozen=True)
class Replayed:
    watch: Watch
    queued: int  # deliveries made again, marked as replays
    dispatched: bool


async def replay_watch(
    pool: ArqRedis,
    sessions: async_sessionmaker[AsyncSession],
    name_or_id: str,
    since: datetime,
    *,
    owner: str | None = None,
) -> Replayed:
    """Send again what the watch was sent (or was to be sent) since `since`, as replays
    with the same event ids; then queue the dispatcher. Raises WatchNotFoundError."""
    async with sessions() as session, session.begin():
        watch = await WatchService.get(session, name_or_id, owner=owner)
        queued = await replay(session, watch, since)
    dispatched = await enqueue_dispatch(pool) if queued else False
    return Replayed(watch, queued, dispatched)
