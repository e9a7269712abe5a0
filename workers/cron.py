"""The cron job: enqueue the feeds that are due, and re-enqueue runs Redis has lost
(see `src.ingest.schedule`)."""

from __future__ import annotations

from typing import Any

from src.ingest.schedule import enqueue_due_feeds, sweep_lost_runs
from workers.context import WorkerDeps


async def scheduled(ctx: dict[str, Any]) -> dict[str, Any]:
    """One function, so both tasks share one schedule."""
    deps = WorkerDeps.of(ctx)
    return {"enqueued": await enqueue_due_feeds(deps), "requeued": await sweep_lost_runs(deps)}
