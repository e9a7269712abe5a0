"""The cron job: enqueue the feeds that are due, re-enqueue runs Redis has lost (see
`src.ingest.schedule`), make the `deadline_near` alert events and wake the alert dispatcher
when anything waits (see `src.ingest.alerts.clock`)."""

from __future__ import annotations

from typing import Any

from src.ingest.alerts.clock import alerts_tick
from src.ingest.schedule import enqueue_due_feeds, sweep_lost_runs
from workers.context import WorkerDeps


async def scheduled(ctx: dict[str, Any]) -> dict[str, Any]:
    """One function, so the tasks share one schedule."""
    deps = WorkerDeps.of(ctx)
    enqueued = await enqueue_due_feeds(deps)
    requeued = await sweep_lost_runs(deps)
    tick = await alerts_tick(deps)
    return {
        "enqueued": enqueued,
        "requeued": requeued,
        "deadline_events": tick.deadline_events,
        "dispatch": tick.queued,
    }
