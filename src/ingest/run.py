"""Running one ingest request: take its lock, mark the run running, then split it into
chunks or read it page by page, and finish the run. Errors propagate to the caller (the
worker's job), which asks `outcome.settle` whether to retry."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from src.domain.runs.entities import IngestRun, RunStatus
from src.domain.runs.request import IngestRequest
from src.domain.runs.services import FeedService, RunService
from src.infra.source_policy import check_source_async
from src.infra.sources import SourceNotModified, SourceRetryLater
from src.ingest.chunked import enqueue_lost_chunks, split, splittable
from src.ingest.deps import Attempt, IngestDeps, RunLog, run_log
from src.ingest.locks import advisory_lock
from src.ingest.outcome import job_deadline
from src.ingest.pages import Validators, ingest_pages


@dataclass(frozen=True)
class RunSummary:
    """What a job returns (and logs): the run's counts as they stand after this attempt."""

    run_id: str
    source: str
    status: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, run: IngestRun, started: float, status: str | None = None) -> RunSummary:
        return cls(
            run_id=str(run.id),
            source=run.source,
            status=status or run.status,
            inserted=run.inserted,
            updated=run.updated,
            unchanged=run.unchanged,
            rejected=run.rejected,
            chunks=run.chunks_total,
            seconds=round(time.monotonic() - started, 3),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_ingest(deps: IngestDeps, request: IngestRequest, attempt: Attempt) -> RunSummary:
    """Ingest one source into tenders; the run row says how it went. A large JSON Lines file
    is split into chunks that any worker may take (after the source policy has passed it)."""
    started = time.monotonic()
    log = run_log(request.run_id, attempt.job_id)
    async with (
        job_deadline(deps.settings.worker_job_timeout),
        advisory_lock(deps.sessions, attempt.job_id or str(request.run_id)) as locked,
    ):
        if not locked:
            log.warning("ingest %s is already running elsewhere: this copy stops", request)
            return RunSummary(str(request.run_id), request.location, "already running")
        run, validators = await _start(deps, request, attempt)
        if run.status == RunStatus.FAILED:
            log.error("ingest %s %s", request.location, run.error)
            return RunSummary.of(run, started)
        log.info("ingest %s started (attempt %d)", request.location, run.attempts)
        if run.chunks_total:
            await enqueue_lost_chunks(deps, run)
            return RunSummary.of(run, started, "split")
        if request.restricted:
            await check_source_async(request.location, deps.settings, resolve=deps.resolve)
        if await asyncio.to_thread(splittable, deps.settings, request):
            await split(deps, run, request)
            return RunSummary.of(run, started, "split")
        finished = await _read_and_finish(deps, run, request, validators, log)
    summary = RunSummary.of(finished or run, started)
    log.info("ingest %s done: %s", request.location, summary.as_dict())
    return summary


async def _start(
    deps: IngestDeps, request: IngestRequest, attempt: Attempt
) -> tuple[IngestRun, Validators]:
    async with deps.sessions() as session, session.begin():
        run = await RunService.start(
            session, request, job_id=attempt.job_id, max_attempts=deps.settings.worker_max_tries
        )
        feed = await FeedService.get(session, request.feed_id) if request.feed_id else None
    return run, Validators(feed.etag, feed.last_modified) if feed else Validators()


async def _read_and_finish(
    deps: IngestDeps,
    run: IngestRun,
    request: IngestRequest,
    validators: Validators,
    log: RunLog,
) -> IngestRun | None:
    """Read every page; a 304 is a complete run with nothing read, a 429/503 with a
    Retry-After a complete run that tells the feed when to come back."""
    try:
        seen: Validators | None = await ingest_pages(deps, run, request, validators)
    except SourceNotModified:
        log.info("ingest %s: not modified since the last fetch", request.location)
        seen = None
    except SourceRetryLater as later:
        log.warning("ingest %s: %s", request.location, later)
        async with deps.sessions() as session, session.begin():
            if request.feed_id is not None:
                await FeedService.remember_validators(
                    session, request.feed_id, not_before=later.not_before
                )
            return await RunService.finish(session, run.id, error=str(later))
    async with deps.sessions() as session, session.begin():
        if request.feed_id is not None and seen is not None:
            await FeedService.remember_validators(
                session, request.feed_id, etag=seen.etag, last_modified=seen.last_modified
            )
        return await RunService.finish(session, run.id)
