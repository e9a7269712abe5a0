"""Enqueueing an ingest: one function for the CLI, the API, the cron and the sweeper, so each
of them writes the run row and the arq job the same way, from one `IngestRequest`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

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


async def enqueue_ingest(
    pool: ArqRedis,
    session_factory: async_sessionmaker[AsyncSession],
    request: IngestRequest,
) -> Enqueued:
    """Queue `request`. The job id is stable, so a source already queued or running is not
    queued twice; the run row is written after the job exists (the worker creates it too if
    it gets there first)."""
    job_id = job_id_for(pool.default_queue_name, request)
    job = await pool.enqueue_job(INGEST_FUNCTION, **request.to_job(), _job_id=job_id)
    if job is None:
        return Enqueued(job_id=job_id, run_id=None, created=False)
    async with session_factory() as session, session.begin():
        await RunService.queue(session, request, job_id=job_id)
    return Enqueued(job_id=job_id, run_id=request.run_id, created=True)


async def requeue(pool: ArqRedis, request: IngestRequest, job_id: str) -> bool:
    """Enqueue a run again under its own job id (the sweeper, for a run Redis lost)."""
    return await pool.enqueue_job(INGEST_FUNCTION, **request.to_job(), _job_id=job_id) is not None


async def enqueue_chunk(
    pool: ArqRedis, request: IngestRequest, chunk_id: uuid.UUID, job_id: str
) -> bool:
    """One byte range of a split source, as its own job."""
    job = await pool.enqueue_job(
        CHUNK_FUNCTION, **request.to_job(), chunk_id=str(chunk_id), _job_id=job_id
    )
    return job is not None
