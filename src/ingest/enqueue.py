"""Enqueueing an ingest: one function for the CLI, the API and the cron, so that each of
them creates the run row and the arq job the same way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.domain.runs.services.run_service import RunService
from src.infra.queue import INGEST_FUNCTION, ingest_job_id


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    run_id: uuid.UUID | None  # None when the same source was already queued or running
    created: bool


async def enqueue_ingest(
    pool: ArqRedis,
    session_factory: async_sessionmaker[AsyncSession],
    source: str,
    *,
    format: str | None = None,
    encoding: str | None = None,
    feed_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    restricted: bool = False,
) -> Enqueued:
    """Queue `source` for ingestion. The job id is stable, so a source already queued or
    running is not queued twice; the run row is written after the job exists (the worker
    creates it too if it gets there first). `restricted` sources (from the API or a feed) are
    checked again against the source policy when the worker fetches them."""
    job_id = ingest_job_id(pool.default_queue_name, source, format)
    run_id = run_id or uuid.uuid4()
    job = await pool.enqueue_job(
        INGEST_FUNCTION,
        source,
        format=format,
        encoding=encoding,
        restricted=restricted,
        run_id=str(run_id),
        feed_id=str(feed_id) if feed_id else None,
        _job_id=job_id,
    )
    if job is None:
        return Enqueued(job_id=job_id, run_id=None, created=False)
    async with session_factory() as session, session.begin():
        await RunService.queue(
            session,
            run_id=run_id,
            job_id=job_id,
            source=source,
            format=format,
            encoding=encoding,
            feed_id=feed_id,
            restricted=restricted,
        )
    return Enqueued(job_id=job_id, run_id=run_id, created=True)
