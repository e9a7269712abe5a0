"""Scheduled work: enqueue the feeds that are due, and re-enqueue runs Redis has lost."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis

from src.domain.runs.services import FeedService, RunService
from src.domain.runs.services.run_service import stalled_thresholds
from src.infra.queue import INGEST_FUNCTION, job_in_redis
from src.ingest.enqueue import enqueue_ingest

log = logging.getLogger("tenders.cron")


async def enqueue_due_feeds(ctx: dict[str, Any]) -> dict[str, Any]:
    """Enqueue every registered feed whose interval has passed; returns their sources."""
    session_factory = ctx["session_factory"]
    now = datetime.now(UTC)
    async with session_factory() as session, session.begin():
        due = [
            (feed.id, feed.source, feed.format, feed.encoding)
            for feed in await FeedService.claim_due(session, now)
        ]
    enqueued = []
    for feed_id, source, format_name, encoding in due:
        outcome = await enqueue_ingest(
            ctx["redis"],
            session_factory,
            source,
            format=format_name,
            encoding=encoding,
            feed_id=feed_id,
            restricted=True,
        )
        enqueued.append(source)
        log.info(
            "feed %s due: job %s%s",
            source,
            outcome.job_id,
            "" if outcome.created else " (already queued)",
        )
    return {"enqueued": enqueued}


async def sweep_lost_runs(ctx: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL is the truth about jobs: a run that is queued (or running without a
    heartbeat) but whose job Redis no longer has is enqueued again, with the same run id."""
    settings = ctx["settings"]
    session_factory = ctx["session_factory"]
    redis: ArqRedis = ctx["redis"]
    queued_before, stalled_before = stalled_thresholds(
        datetime.now(UTC), settings.stalled_run_after, settings.sweep_queued_after
    )
    async with session_factory() as session:
        runs = [
            (run.id, run.job_id, run.source, run.format, run.encoding, run.feed_id, run.restricted)
            for run in await RunService.unfinished(
                session, queued_before=queued_before, stalled_before=stalled_before
            )
        ]
    requeued = []
    for run_id, job_id, source, format_name, encoding, feed_id, restricted in runs:
        if job_id is None or await job_in_redis(redis, job_id):
            continue
        job = await redis.enqueue_job(
            INGEST_FUNCTION,
            source,
            format=format_name,
            encoding=encoding,
            restricted=restricted,
            run_id=str(run_id),
            feed_id=str(feed_id) if feed_id else None,
            _job_id=job_id,
        )
        if job is not None:
            requeued.append(str(run_id))
            log.warning("run %s (%s) was lost by Redis: enqueued again", run_id, source)
    return {"requeued": requeued}


async def scheduled(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron entry point: one function so both tasks share one schedule."""
    feeds = await enqueue_due_feeds(ctx)
    swept = await sweep_lost_runs(ctx)
    return {**feeds, **swept}
