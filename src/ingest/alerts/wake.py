"""Waking the dispatcher: after a batch that wrote events commits, and from the cron.

arq queues one dispatcher at a time per queue (`dispatch_job_id`), and refuses an enqueue
while that job is queued *or running*. Events committed while it runs, after it last looked,
would then wait for the cron. So a wake-up first sets a "dirty" key, then enqueues: the
dispatcher clears the key before each pass and runs another pass while it finds it set, and
the worker's `after_job_end` hook (run once arq has let go of the job id) enqueues it again
when the key was set after its last look. Every wake-up is either seen by a pass or queues a
new job."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.exceptions
from arq.connections import ArqRedis

from src.infra.queue import DISPATCH_FUNCTION, dispatch_job_id

log = logging.getLogger("tenders.alerts")

# A wake-up no dispatcher saw is of no use after the cron has run many times over.
DIRTY_SECONDS = 24 * 3600
# An enqueue that takes longer than this is given up (the cron is the safety net).
ENQUEUE_TIMEOUT_SECONDS = 5.0


def dirty_key(queue_name: str) -> str:
    return dispatch_job_id(queue_name) + ":dirty"


async def request_dispatch(queue: ArqRedis, queue_name: str) -> bool:
    """Mark that there is work, then queue the dispatcher; True when this queued it (False:
    one is queued or running already, and the mark makes it look again)."""
    await queue.set(dirty_key(queue_name), b"1", ex=DIRTY_SECONDS)
    job = await queue.enqueue_job(
        DISPATCH_FUNCTION, _job_id=dispatch_job_id(queue_name), _queue_name=queue_name
    )
    return job is not None


async def request_dispatch_quietly(queue: ArqRedis, queue_name: str) -> bool:
    """`request_dispatch` that never fails its caller (an ingest that has committed its
    batch): a Redis that is down or slow is logged, and the cron delivers later."""
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
            return await request_dispatch(queue, queue_name)
    except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
        log.warning(
            "could not wake the alert dispatcher (%s: %s); the cron will deliver within a minute",
            type(error).__name__,
            error,
        )
        return False


async def take_dirty(queue: ArqRedis, queue_name: str) -> bool:
    """Clear the mark; whether it was set."""
    return bool(await queue.delete(dirty_key(queue_name)))


async def is_dirty(queue: ArqRedis, queue_name: str) -> bool:
    return bool(await queue.exists(dirty_key(queue_name)))


async def wake_if_dirty(queue: ArqRedis, queue_name: str) -> bool:
    """Queue the dispatcher when a wake-up is marked (never fails: the cron is the net)."""
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
            dirty = await is_dirty(queue, queue_name)
    except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
        log.warning("could not look for alert wake-ups (%s: %s)", type(error).__name__, error)
        return False
    return dirty and await request_dispatch_quietly(queue, queue_name)


@dataclass(frozen=True)
class DispatchSignal:
    """What an ingest needs to wake the dispatcher after a batch that wrote events."""

    queue: ArqRedis
    queue_name: str

    async def events_committed(self) -> None:
        await request_dispatch_quietly(self.queue, self.queue_name)
