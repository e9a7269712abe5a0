"""Enqueueing ingests over HTTP and following them. The run row in PostgreSQL is the job's
truth; its id is the id this API hands out."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Literal

from arq.connections import ArqRedis
from arq.jobs import Job
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.api.auth import AUTH_RESPONSES, Principal, require_read, require_write
from src.api.deps import get_db, get_queue, get_resolver, get_session_factory, get_settings
from src.api.params import invalid
from src.api.schemas import (
    ErrorMessage,
    IngestJobAccepted,
    IngestJobOut,
    IngestJobRequest,
    RejectionOut,
    RejectionPage,
    RunCounts,
    RunProgressOut,
)
from src.domain.runs.entities import IngestRun
from src.domain.runs.progress import run_progress
from src.domain.runs.services import RunService
from src.infra.queue import deserialize
from src.infra.source_policy import Resolver
from src.ingest.admission import RequestRefused, admit
from src.ingest.enqueue import QueueFullError, enqueue_ingest

log = logging.getLogger("tenders.api")
router = APIRouter(tags=["ingest jobs"], responses=AUTH_RESPONSES)
# A full queue drains at the workers' pace: a minute is a fair first guess.
QUEUE_FULL_RETRY_AFTER = 60


@router.post(
    "/ingest-jobs",
    status_code=202,
    response_model=IngestJobAccepted,
    responses={503: {"model": ErrorMessage, "description": "Redis or PostgreSQL is down."}},
    summary="Queue a source for ingestion",
)
async def create_ingest_job(
    body: IngestJobRequest,
    response: Response,
    caller: Annotated[Principal, Depends(require_write)],
    settings: Annotated[Settings, Depends(get_settings)],
    resolve: Annotated[Resolver, Depends(get_resolver)],
    queue: Annotated[ArqRedis, Depends(get_queue)],
    sessions: Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)],
) -> IngestJobAccepted:
    """Queue an http(s) URL of a public host, or a file inside the server's
    ALLOWED_SOURCE_DIRS. The same source already queued or running is not queued twice: the
    answer then names the run in progress (`created: false`). A token may have at most
    API_MAX_QUEUED_RUNS runs queued or running: past that, 429 and Retry-After."""
    try:
        request = await admit(
            body.source,
            settings,
            format=body.format,
            encoding=body.encoding,
            restricted=True,
            submitted_by=caller.name,
            quiet=body.quiet,
            resolve=resolve,
        )
    except RequestRefused as refused:
        if refused.retry_later:
            raise HTTPException(503, str(refused)) from None
        invalid(("body", refused.field), str(refused), getattr(body, refused.field))
    source = request.location
    try:
        enqueued = await enqueue_ingest(
            queue, sessions, request, max_unfinished=settings.api_max_queued_runs
        )
    except QueueFullError as full:
        headers = {"Retry-After": str(QUEUE_FULL_RETRY_AFTER)}
        raise HTTPException(429, str(full), headers) from None
    run_id = enqueued.run_id
    if run_id is None:
        run_id = await _run_in_progress(queue, sessions, enqueued.job_id)
    if run_id is not None:
        response.headers["Location"] = f"/ingest-jobs/{run_id}"
    log.info("%s queued %s as run %s (new: %s)", caller.name, source, run_id, enqueued.created)
    return IngestJobAccepted(
        id=run_id,
        job_id=enqueued.job_id,
        source=source,
        format=body.format,
        created=enqueued.created,
    )


async def _run_in_progress(
    queue: ArqRedis, sessions: async_sessionmaker[AsyncSession], job_id: str
) -> uuid.UUID | None:
    """The run of a job that is already queued or running: from the job's own arguments
    while Redis holds it, else the newest run the job wrote."""
    job = Job(job_id, queue, _queue_name=queue.default_queue_name, _deserializer=deserialize)
    try:
        info = await job.info()
    except Exception as error:  # noqa: BLE001 - a damaged job only costs the lookup
        log.warning("could not read job %s: %s", job_id, type(error).__name__)
        info = None
    run_id = info.kwargs.get("run_id") if info is not None else None
    if isinstance(run_id, str):
        try:
            return uuid.UUID(run_id)
        except ValueError:
            pass
    async with sessions() as session:
        return await session.scalar(
            select(IngestRun.id)
            .where(IngestRun.job_id == job_id)
            .order_by(IngestRun.queued_at.desc())
            .limit(1)
        )


@router.get(
    "/ingest-jobs/{run_id}",
    response_model=IngestJobOut,
    responses={404: {"model": ErrorMessage, "description": "No such ingest job."}},
    summary="Follow an ingest job",
    dependencies=[Depends(require_read)],
)
async def get_ingest_job(
    run_id: uuid.UUID, db: Annotated[AsyncSession, Depends(get_db)]
) -> IngestJobOut:
    """queued, running, complete or failed, with its counts and error."""
    run = await RunService.get(db, run_id)
    if run is None:
        raise HTTPException(404, f"no ingest job has id {run_id}")
    return job_out(run)


@router.get(
    "/ingest-jobs/{run_id}/rejections",
    response_model=RejectionPage,
    responses={404: {"model": ErrorMessage, "description": "No such ingest job."}},
    summary="What an ingest job rejected, and the fields it left empty",
    dependencies=[Depends(require_read)],
)
async def get_rejections(
    run_id: uuid.UUID,
    db: Annotated[AsyncSession, Depends(get_db)],
    kind: Annotated[Literal["record", "field"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> RejectionPage:
    """Rejected records (kind `record`) and field warnings (kind `field`), oldest first, at
    most `limit` of them."""
    if await RunService.get(db, run_id) is None:
        raise HTTPException(404, f"no ingest job has id {run_id}")
    rows = await RunService.rejections(db, run_id, kind=kind, limit=limit)
    return RejectionPage(run_id=run_id, items=[RejectionOut.model_validate(r) for r in rows])


def job_out(run: IngestRun) -> IngestJobOut:
    duration = None
    if run.started_at is not None and run.finished_at is not None:
        duration = max(0.0, (run.finished_at - run.started_at).total_seconds())
    progress = run_progress(run)
    return IngestJobOut.model_validate(
        {
            "id": run.id,
            "job_id": run.job_id,
            "source": run.source,
            "format": run.format,
            "encoding": run.encoding,
            "status": run.status,
            "quiet": run.quiet,
            "counts": RunCounts(
                inserted=run.inserted,
                updated=run.updated,
                unchanged=run.unchanged,
                rejected=run.rejected,
                warnings=run.warnings,
            ),
            "records_done": run.records_done,
            "attempts": run.attempts,
            "error": run.error,
            "queued_at": run.queued_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": duration,
            "progress": RunProgressOut(
                bytes_read=progress.bytes_read,
                bytes_total=progress.bytes_total,
                records=progress.records,
                rate_per_second=progress.rate_per_second,
                eta_seconds=progress.eta_seconds,
                updated_at=progress.updated_at,
            ),
        }
    )
