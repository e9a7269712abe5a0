"""Scheduled work: enqueue the feeds that are due, and re-enqueue runs Redis has lost."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from src.domain.runs.entities import IngestRun
from src.domain.runs.services import FeedService, RunService
from src.domain.runs.services.run_service import stalled_thresholds
from src.infra.queue import job_in_redis
from src.ingest.deps import IngestDeps
from src.ingest.enqueue import enqueue_ingest, requeue

log = logging.getLogger("tenders.cron")


async def enqueue_due_feeds(deps: IngestDeps) -> list[str]:
    """Enqueue every registered feed whose interval has passed; returns their locations."""
    async with deps.sessions() as session, session.begin():
        due = [feed.request() for feed in await FeedService.claim_due(session, datetime.now(UTC))]
    for request in due:
        outcome = await enqueue_ingest(deps.queue, deps.sessions, request)
        log.info(
            "feed %s due: job %s%s",
            request.location,
            outcome.job_id,
            "" if outcome.created else " (already queued)",
        )
    return [request.location for request in due]


async def sweep_lost_runs(deps: IngestDeps) -> list[str]:
    """PostgreSQL is the truth about jobs: a run that is queued (or running without a
    heartbeat) but whose job Redis no longer has is enqueued again, with its own request,
    field for field; unless its attempts are spent (WORKER_MAX_TRIES): then it fails, "gave
    up after N attempts". A split run's job is always enqueued again: it only hands out the
    chunks, which count their own attempts. Returns the run ids enqueued again."""
    settings = deps.settings
    queued_before, stalled_before = stalled_thresholds(
        datetime.now(UTC), settings.stalled_run_after, settings.sweep_queued_after
    )
    async with deps.sessions() as session:
        runs = list(
            await RunService.unfinished(
                session, queued_before=queued_before, stalled_before=stalled_before
            )
        )
    requeued = []
    for run in runs:
        if run.job_id is None or await job_in_redis(deps.queue, run.job_id):
            continue
        if not run.chunks_total and run.attempts >= settings.worker_max_tries:
            await _give_up(deps, run)
        elif await requeue(deps.queue, run.request(), run.job_id):
            requeued.append(str(run.id))
            log.warning("run %s (%s) was lost by Redis: enqueued again", run.id, run.source)
    return requeued


async def _give_up(deps: IngestDeps, run: IngestRun) -> None:
    async with deps.sessions() as session, session.begin():
        failed = await RunService.give_up(session, run)
    log.error("run %s (%s) failed: %s", run.id, run.source, failed.error if failed else "gone")
