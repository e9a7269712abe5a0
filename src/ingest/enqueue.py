"""Enqueueing an ingest: one function for the CLI, the API, the cron and the sweeper, so each
of them writes the run row and the arq job the same way, from one `IngestRequest`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.request import IngestRequest
from src.domain.runs.services.run_service import RunService
from src.infra.queue import CHUNK_FUNCTION, INGEST_FUNCTION, ingest_job_id


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    run_id: uuid.UUID | None  # None when the same source was already queued or running
    created: bool


def job_id_for(queue_name: str, request: IngestRequest) -> str:
    return ingest_job_id(queue_name, request.location, request.format)


class QueueFullError(Exception):
    """A submitter already has as many runs queued or running as it may."""

    def __init__(self, submitted_by: str, unfinished: int, limit: int) -> None:
        super().__init__(
            f"{submitted_by} has {unfinished} ingest runs queued or running, the most allowed "
            f"(API_MAX_QUEUED_RUNS={limit}): retry when some have finished"
        )
        self.submitted_by = submitted_by
        self.unfinished = unfinished
        self.limit = limit


class _AlreadyQueued(Exception):  # noqa: N818 - control flow: rolls the new row back
    pass


async def enqueue_ingest(
    pool: ArqRedis,
    session_factory: async_sessionmaker[AsyncSession],
    request: IngestRequest,
    *,
    max_unfinished: int | None = None,
) -> Enqueued:
    """Queue `request`. The run row is written first, in a transaction that commits only
    once the job is queued: a database that cannot take the row (missing, not migrated,
    down) leaves nothing in Redis for a worker to run. The job id is stable, so a source
    already queued or running is not queued twice (the new row is rolled back then). With
    `max_unfinished`, a request that names its submitter raises QueueFullError when that
    submitter has this many runs queued or running already; the check and the new row are
    one transaction, under a lock per submitter."""
    job_id = job_id_for(pool.default_queue_name, request)
    try:
        async with session_factory() as session, session.begin():
            submitter = request.submitted_by
            if max_unfinished is not None and submitter is not None:
                await RunService.lock_submitter(session, submitter)
                unfinished = await RunService.count_unfinished(session, submitter)
                if unfinished >= max_unfinished:
                    raise QueueFullError(submitter, unfinished, max_unfinished)
            await RunService.queue(session, request, job_id=job_id)
            job = await pool.enqueue_job(INGEST_FUNCTION, **request.to_job(), _job_id=job_id)
            if job is None:
                raise _AlreadyQueued
    except _AlreadyQueued:
        return Enqueued(job_id=job_id, run_id=None, created=False)
    return Enqueued(job_id=job_id, run_id=request.run_id, created=True)


async def requeue(pool: ArqRedis, request: IngestRequest, job_id: str) -> bool:
    """Enqueue a run again under its own job id (the sweeper, for a run Redis lost)."""
    return await pool.enqueue_job(INGEST_FUNCTION, **request.to_job(), _job_id=job_id) is not None


async def enqueue_chunk(
    pool: ArqRedis, request: IngestRequest, chunk_id: uuid.UUID, job_id: str, index: int = 0
) -> bool:
    """One byte range of a split source, as its own job. The queue is ordered by time in
    milliseconds, and jobs queued in the same one run in any order: the `index`-th range is
    due `index` ms later, so the ranges run in file order (the last, shortest ones last)."""
    job = await pool.enqueue_job(
        CHUNK_FUNCTION,
        **request.to_job(),
        chunk_id=str(chunk_id),
        _job_id=job_id,
        _defer_by=timedelta(milliseconds=index) if index else None,
    )
    return job is not None
