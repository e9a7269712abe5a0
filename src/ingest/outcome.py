"""What a failed attempt means, written on its run (or chunk): a transient fault is retried
with backoff while tries remain; a shutdown puts the run back in the queue; anything else
fails the run with a message a person can act on."""

from __future__ import annotations

import uuid

from src.domain.runs.services import ChunkService, RunService
from src.infra.errors import describe, is_transient
from src.ingest.deps import Attempt, IngestDeps, run_log
from src.ingest.run_errors import run_error


def backoff_seconds(job_try: int, base: float) -> float:
    return float(min(base ** max(job_try, 1), 300.0))


async def settle_failure(
    deps: IngestDeps,
    error: BaseException,
    *,
    run_id: uuid.UUID,
    attempt: Attempt,
    chunk_id: uuid.UUID | None = None,
    restricted: bool = False,
) -> float | None:
    """Record the failed attempt; returns the seconds to wait before the retry, or None when
    the run (or chunk) has failed for good. The log has the whole error; a restricted run's
    row only what quotes nothing of its source (see `run_errors`)."""
    settings = deps.settings
    message = describe(error)
    stored = run_error(error, restricted=restricted)
    log = run_log(run_id, attempt.job_id)
    if is_transient(error) and attempt.job_try < settings.worker_max_tries:
        delay = backoff_seconds(attempt.job_try, settings.worker_retry_backoff)
        log.warning(
            "run %s: transient error, retry %d in %.0fs: %s",
            run_id,
            attempt.job_try,
            delay,
            message,
        )
        await _record(deps, run_id, chunk_id, stored, retry=True)
        return delay
    log.error("failed: %s", message)
    await _record(deps, run_id, chunk_id, stored, retry=False)
    return None


async def settle_interrupted(
    deps: IngestDeps,
    *,
    run_id: uuid.UUID,
    job_id: str | None = None,
    chunk_id: uuid.UUID | None = None,
) -> None:
    """A worker shutdown cancelled the attempt: the run goes back to queued, and arq runs the
    job again."""
    run_log(run_id, job_id).warning("interrupted by shutdown; it will run again")
    await _record(deps, run_id, chunk_id, "interrupted by a worker shutdown", retry=True)


async def _record(
    deps: IngestDeps,
    run_id: uuid.UUID,
    chunk_id: uuid.UUID | None,
    message: str,
    *,
    retry: bool,
) -> None:
    """Write the outcome on the run (or chunk); if the database itself is down, the log has
    it, and the sweeper finds the run again."""
    try:
        async with deps.sessions() as session, session.begin():
            if chunk_id is not None:
                chunk = await ChunkService.get(session, chunk_id)
                if chunk is not None and not retry:
                    await ChunkService.finish(session, chunk, error=message)
            elif retry:
                await RunService.note_retry(session, run_id, message)
            else:
                await RunService.finish(session, run_id, error=message)
    except Exception as error:  # noqa: BLE001 - best effort, the original error wins
        run_log(run_id, None).warning("could not record the outcome: %s", describe(error))
