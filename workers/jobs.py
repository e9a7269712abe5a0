"""Job functions, thin: turn the payload into an `IngestRequest`, run it through the
application layer, and map a failure to arq's Retry or to a failed job."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NoReturn

from arq import Retry

from src.domain.runs.request import IngestRequest
from src.ingest.alerts import dispatch
from src.ingest.chunked import run_chunk
from src.ingest.deps import Attempt
from src.ingest.outcome import settle_failure, settle_interrupted
from src.ingest.run import run_ingest
from workers.context import WorkerDeps


def _request(args: tuple[Any, ...], payload: dict[str, Any]) -> IngestRequest:
    """Jobs enqueued by an older release passed the location as the first argument."""
    if args:
        payload = {**payload, "location": args[0]}
    return IngestRequest.from_job(payload)


async def ingest_source(ctx: dict[str, Any], *args: Any, **payload: Any) -> dict[str, Any]:
    """Ingest one source (see `src.ingest.run.run_ingest`)."""
    deps, attempt = WorkerDeps.of(ctx), WorkerDeps.attempt(ctx)
    request = _request(args, payload)
    try:
        summary = await run_ingest(deps, request, attempt)
    except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001 - sorted, re-raised
        await _retry_or_fail(deps, error, request, attempt, None)
    return summary.as_dict()


async def ingest_chunk(
    ctx: dict[str, Any], *args: Any, chunk_id: str, **payload: Any
) -> dict[str, Any]:
    """Ingest one byte range of a split source (see `src.ingest.chunked.run_chunk`)."""
    deps, attempt = WorkerDeps.of(ctx), WorkerDeps.attempt(ctx)
    request = _request(args, payload)
    try:
        summary = await run_chunk(deps, request, chunk_id, attempt.job_id)
    except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001 - sorted, re-raised
        await _retry_or_fail(deps, error, request, attempt, uuid.UUID(chunk_id))
    return {"chunk_id": summary.chunk_id, "index": summary.index, "status": summary.status}


async def dispatch_alerts(ctx: dict[str, Any]) -> dict[str, Any]:
    """Deliver the alerts that wait (see `src.ingest.alerts.dispatch`). Stopped at its time
    budget with work left, it runs again at once (the same job: arq keeps it queued). It
    takes no arguments, so every wake-up is the same job."""
    summary = await dispatch.dispatch_alerts(WorkerDeps.of(ctx))
    if summary.more:
        raise Retry(defer=None)
    return summary.as_dict()


async def _retry_or_fail(
    deps: WorkerDeps,
    error: BaseException,
    request: IngestRequest,
    attempt: Attempt,
    chunk_id: uuid.UUID | None,
) -> NoReturn:
    """Shutdown: back to queued, arq runs the job again. Transient: Retry with backoff.
    Anything else, or out of tries: the job fails with the error."""
    if isinstance(error, asyncio.CancelledError):
        await settle_interrupted(
            deps, run_id=request.run_id, job_id=attempt.job_id, chunk_id=chunk_id
        )
        raise error
    retry_in = await settle_failure(
        deps,
        error,
        run_id=request.run_id,
        attempt=attempt,
        chunk_id=chunk_id,
        restricted=request.restricted,
    )
    if retry_in is not None:
        raise Retry(defer=retry_in) from error
    raise error
